//! Black-box tests of the auth plugin (being written).
