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
}
