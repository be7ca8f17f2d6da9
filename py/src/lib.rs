//! Python bindings for ringroute (in progress).
