//! Black-box tests of the access plugin (being written).
