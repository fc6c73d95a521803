//! skopeo and umoci accept the layouts.

use std::path::Path;
use std::process::Command;

use crate::build::common::*;

/// skopeo and umoci read every layout (`.ci/run` installs them; a
/// developer machine without them skips, CI never does).
#[test]
fn skopeo_and_umoci_accept_the_layouts() {
    if !(have("skopeo") && have("umoci")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have skopeo and umoci (.ci/run installs them)"
        );
        eprintln!("skipped: skopeo or umoci not installed");
        return;
    }
    let s = setup(&[], "");
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tool = |cmd: &str, args: &[&str]| {
        let o = Command::new(cmd)
            .args(args)
            .current_dir(s.ws.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for image in ["static-test", "cc-test"] {
        for tag in ["latest", "nonroot", "debug", "latest-arm64"] {
            let raw = tool(
                "skopeo",
                &["inspect", "--raw", &format!("oci:out/{image}:{tag}")],
            );
            assert!(raw.contains("schemaVersion"));
            let info = tool(
                "skopeo",
                &[
                    "inspect",
                    "--override-arch",
                    "arm64",
                    &format!("oci:out/{image}:{tag}"),
                ],
            );
            let info: serde_json::Value = serde_json::from_str(&info).unwrap();
            assert_eq!(info["Architecture"], "arm64");
        }
    }
    tool(
        "skopeo",
        &[
            "copy",
            "--override-arch",
            "amd64",
            "oci:out/cc-test:nonroot",
            "docker-archive:cc.tar:cc:nonroot",
        ],
    );
    assert!(std::fs::metadata(s.ws.path().join("cc.tar")).unwrap().len() > 0);
    tool(
        "umoci",
        &["unpack", "--image", "out/cc-test:latest-amd64", "bundle"],
    );
    let rootfs = s.ws.path().join("bundle/rootfs");
    assert_eq!(
        std::fs::read(rootfs.join("usr/lib/x86_64-linux-gnu/libc.so.6")).unwrap(),
        b"libc for amd64"
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("lib")).unwrap(),
        Path::new("usr/lib")
    );
    let config = read_json(&s.ws.path().join("bundle/config.json"));
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/usr/bin/ldd"])
    );

    // A docker archive of one image and architecture, every tag in it,
    // with the same configs as the layout.
    let run = s.ws.run(&[
        "build",
        "--format",
        "docker-archive",
        "--image",
        "cc",
        "--arch",
        "arm64",
        "--out",
        "dk",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "dk/cc-test-arm64.tar\n");
    let names: Vec<String> = std::fs::read_dir(s.ws.path().join("dk"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["cc-test-arm64.tar"],
        "no scratch layout left behind"
    );
    for tag in ["latest", "nonroot", "debug"] {
        let from_tar = tool(
            "skopeo",
            &[
                "inspect",
                "--config",
                &format!("docker-archive:dk/cc-test-arm64.tar:cc-test:{tag}"),
            ],
        );
        let from_layout = tool(
            "skopeo",
            &[
                "inspect",
                "--config",
                &format!("oci:out/cc-test:{tag}-arm64"),
            ],
        );
        assert_eq!(from_tar, from_layout, "{tag}");
    }
}
