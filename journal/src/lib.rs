//! Memory-mapped journal (being built).
