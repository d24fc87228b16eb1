//! Black-box tests of the dirlisting plugin (being written).
