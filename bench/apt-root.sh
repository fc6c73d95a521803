# Sourced by the benches that time apt: an isolated apt root over one
# Packages file, its cache built (as apt's is after `apt-get update`).

# setup_apt DIR ARCH PACKAGES-FILE: the root in DIR; apt-get reads it with
# APT_CONFIG=DIR/apt.conf.
setup_apt() {
  local r=$1
  mkdir -p "$r"/{repo,etc/apt/apt.conf.d,etc/apt/sources.list.d,etc/apt/preferences.d,var/lib/apt/lists/partial,var/cache/apt/archives/partial,var/lib/dpkg,log}
  cp "$3" "$r/repo/Packages"; : > "$r/var/lib/dpkg/status"
  echo "deb [trusted=yes] file:$r/repo ./" > "$r/etc/apt/sources.list"
  cat > "$r/apt.conf" <<CONF
Dir "$r/"; Dir::State::status "$r/var/lib/dpkg/status"; Dir::Etc "$r/etc/apt/";
Dir::Cache "$r/var/cache/apt/"; Dir::State "$r/var/lib/apt/"; Dir::Log "$r/log/";
APT::Architecture "$2"; APT::Architectures { "$2"; }; pkgCacheGen::Essential "none";
APT::Install-Recommends "false"; Acquire::Languages "none"; Debug::NoLocking "true";
CONF
  APT_CONFIG=$r/apt.conf apt-get update -qq
}

# fetch SUITE-URL ARCH OUT: appends the suite's main index for ARCH to OUT.
fetch() {
  curl -fsS "$1/main/binary-$2/Packages.xz" | xz -d >> "$3"
}
