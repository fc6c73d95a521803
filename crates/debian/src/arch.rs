//! Debian architecture names and wildcards (`any`, `all`, `linux-any`,
//! `any-arm64`), as in dpkg-architecture(1).

/// Splits a Debian architecture into (os, cpu). Plain names are Linux;
/// `kfreebsd-amd64`, `hurd-i386` and friends carry their OS. The ARM ABIs
/// (`armel`, `armhf`) share the `arm` CPU for wildcard purposes.
fn tuple(arch: &str) -> (&str, &str) {
    let (os, cpu) = match arch.split_once('-') {
        Some((os, cpu)) => (os, cpu),
        None => ("linux", arch),
    };
    let cpu = match cpu {
        "armel" | "armhf" => "arm",
        "ppc64el" => "ppc64el",
        other => other,
    };
    (os, cpu)
}

/// Does the architecture pattern (as found in relation restrictions and
/// `Architecture:` fields) match the concrete architecture `arch`?
pub fn arch_matches(pattern: &str, arch: &str) -> bool {
    if pattern == arch || pattern == "any" {
        return true;
    }
    if pattern == "all" {
        return false;
    }
    let (os, cpu) = tuple(arch);
    match pattern.split_once('-') {
        Some(("any", p_cpu)) => tuple(p_cpu).1 == cpu,
        Some((p_os, "any")) => p_os == os,
        _ => false,
    }
}

/// The Debian name of the machine's architecture: the default `--arch`.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "s390x" => "s390x",
        "powerpc64" => "ppc64el",
        "riscv64" => "riscv64",
        "x86" => "i386",
        other => other,
    }
}

/// The Debian architectures distill builds images for: those with an
/// OCI platform. Anything else (`vax`, `../x`) is refused where it is
/// read, before it reaches a URL, a path or a lock.
pub const IMAGE_ARCHS: [&str; 10] = [
    "amd64", "arm64", "armel", "armhf", "i386", "loong64", "mips64el", "ppc64el", "riscv64",
    "s390x",
];

/// Whether `arch` is one of [`IMAGE_ARCHS`].
pub fn is_image_arch(arch: &str) -> bool {
    IMAGE_ARCHS.contains(&arch)
}

/// Whether `s` is a well-formed architecture name as indices spell them
/// (`all`, `amd64`, `hurd-i386`): lower-case letters, digits and `-`.
pub fn is_arch_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `s` is a package name in Debian Policy's alphabet (5.6.1):
/// lower-case letters, digits, `+`, `-` and `.`, starting with a letter
/// or digit. Policy also asks for two characters at least; one is
/// allowed here (no path, URL or terminal is harmed by it, and test
/// archives use such names).
pub fn is_package_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::arch_matches;

    #[test]
    fn wildcards() {
        let yes = [
            ("any", "amd64"),
            ("amd64", "amd64"),
            ("linux-any", "arm64"),
            ("linux-any", "riscv64"),
            ("any-amd64", "amd64"),
            ("any-arm", "armhf"),
            ("any-arm", "armel"),
            ("any-i386", "hurd-i386"),
            ("hurd-any", "hurd-i386"),
        ];
        let no = [
            ("all", "amd64"),
            ("amd64", "arm64"),
            ("any-amd64", "arm64"),
            ("kfreebsd-any", "amd64"),
            ("linux-any", "hurd-i386"),
            ("any-arm64", "armhf"),
            ("armhf", "armel"),
        ];
        for (p, a) in yes {
            assert!(arch_matches(p, a), "{p} should match {a}");
        }
        for (p, a) in no {
            assert!(!arch_matches(p, a), "{p} should not match {a}");
        }
    }

    #[test]
    fn names_as_policy_defines_them() {
        use super::{is_arch_name, is_image_arch, is_package_name};
        for ok in ["libc6", "g++-14", "libstdc++6", "python3.13-minimal", "0ad"] {
            assert!(is_package_name(ok), "{ok}");
        }
        for bad in [
            "", "Libc", "-x", "../etc", "a b", "libc6\n", "x/y", ".x", "é1",
        ] {
            assert!(!is_package_name(bad), "{bad}");
        }
        assert!(is_image_arch("arm64") && !is_image_arch("vax") && !is_image_arch("../x"));
        assert!(is_arch_name("hurd-i386") && is_arch_name("all") && !is_arch_name("../x"));
    }
}
