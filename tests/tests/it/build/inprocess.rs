//! `build` through the library, in-process: the same digests as the
//! binary, progress and notes through the observer, typed reports.

use std::sync::Arc;

use distill_layer::Compression;
use distill_project::{BuildOptions, Format};
use distill_tests::Recorder;

use crate::build::common::*;

fn options(out: std::path::PathBuf) -> BuildOptions {
    let opts = BuildOptions {
        out,
        ..BuildOptions::default()
    };
    assert_eq!(
        (opts.compression, opts.format),
        (Compression::Gzip, Format::Oci)
    );
    opts
}

#[test]
fn the_api_builds_what_the_binary_builds() {
    let s = setup(&[], "");
    let recorder = Arc::new(Recorder::default());
    let project = s.project_with(recorder.clone());
    let report = project
        .build(&options(s.ws.path().join("api")))
        .unwrap_or_else(|e| panic!("{}", distill_store::causes(&e).join(": ")));
    let lines: Vec<String> = report
        .tags
        .iter()
        .map(|b| format!("{}-{}:{} {}", b.image, b.distro, b.tag, b.digest))
        .collect();
    let binary = build(&s.ws, "out");
    assert_eq!(binary.code, 0, "{}", binary.stderr);
    assert_eq!(lines.join("\n") + "\n", binary.stdout);
    assert!(lines.contains(
        &"static-test:latest sha256:c6406cb0d1d6dce53673b1b2de809f5be1a433cb3bb119ce9f935818e0e35dc3"
            .to_owned()
    ));

    // Progress and notes reached the observer, not stdout or stderr.
    let notes = recorder.notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().all(|n| n.starts_with("wrote ")), "{notes:?}");
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    let (what, total, done) = &steps[0];
    assert_eq!(what, "test layers");
    assert!(*total > 0 && done == total, "{steps:?}");

    // A selection the lock does not have is an error value, not a
    // panic, saying which part matched nothing and what there is.
    let mut none = options(s.ws.path().join("none"));
    none.archs = vec!["riscv64".into()];
    let e = project.build(&none).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot build --arch riscv64: the images of test are locked for amd64, arm64 only"
    );
}
