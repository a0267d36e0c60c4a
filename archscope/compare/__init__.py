"""Models side by side: aligned layers, totals with deltas and ratios, roofline points; works on reports only."""
