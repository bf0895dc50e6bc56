/** Six decimals: 1 W for values in MW, 1 g for tonnes; published numbers stay short. -0 becomes 0. */
export const round6 = (v: number): number => Math.round(v * 1e6) / 1e6 + 0;
