//! Bakes a board configuration into the binary: `FWS_BOARD_CONFIG` names a
//! board file (see board-configs/). Its `[board]` section describes the build
//! and is blanked out (line numbers kept, so errors still point at the right
//! line); the rest becomes the binary's default configuration layer.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=FWS_BOARD_CONFIG");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo")).join("board.toml");
    let text = match env::var_os("FWS_BOARD_CONFIG") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            let raw = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("FWS_BOARD_CONFIG={}: {e}", path.display()));
            strip_board_section(&raw)
        }
        _ => String::new(),
    };
    fs::write(&out, text).expect("write board.toml");
}

fn strip_board_section(raw: &str) -> String {
    let mut in_board = false;
    let mut out = String::with_capacity(raw.len());
    for line in raw.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_board = t == "[board]";
        }
        if in_board {
            out.push('#');
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
