//! Black-box tests of the logger plugin (being written).
