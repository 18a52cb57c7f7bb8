"""The fast paths of `atlas.kernels.cpu.conv`: `planes` (the layout both work in),
`im2col_gemm` and `direct`. Private: the kernels to call are in `atlas.kernels.cpu.conv`."""
