//! C ABI for ringroute (in progress).
