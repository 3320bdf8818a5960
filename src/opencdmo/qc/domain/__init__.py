"""The laboratory's calculations: no Django here, tested directly."""
