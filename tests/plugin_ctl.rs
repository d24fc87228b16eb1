//! Black-box tests of the ctl plugin (being written).
