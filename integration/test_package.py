"""The Debian package (`make deb`): what it installs, its conffile, its maintainer scripts, and an
upgrade that keeps an administrator's conf.

The package is build-deb/pushrelay_<version>_<arch>.deb, or $PUSHRELAY_DEB; `make test` builds it
first, and a run that finds none builds it here (`make deb`, several minutes). Skipped only where
dpkg-deb is missing.

dpkg installs it into a throwaway root with its maintainer scripts run for real: dpkg --root
chroots into the root to run them, so the root gets the host's /usr under an overlay (what dpkg
and the scripts write lands in the test's directory), /dev and /proc, a copy of the host's
account files and loader cache, and an empty dpkg database. The mounts live in a private mount
namespace (unshare) that a holder process keeps for the test's length; every command enters it
(nsenter), so a server started in the root runs on across commands. Needs root, as `make test`
has.

The upgrade's "next version" is this package repacked with a later version and a changed default
conf (dpkg-deb -R / -b): what is tested is dpkg's conffile handling and the maintainer scripts on
upgrade, which a second full package build would not exercise more (and would cost minutes).
"""
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from client import publish
from conftest import ROOT, WAIT, accepts, alive, free_port, wait_until
from segment_layout import another_layout

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is missing")

# Building the package from scratch compiles everything (minutes on two cores).
BUILD_TIMEOUT = 1800
CONF = "etc/pushrelay/pushrelay.conf"
LOGROTATE = "etc/logrotate.d/pushrelay"
UNIT = "lib/systemd/system/pushrelay.service"
EXPECTED_FILES = {
    "usr/sbin/pushrelay", CONF, LOGROTATE, UNIT,
    "usr/share/man/man8/pushrelay.8.gz", "usr/share/man/man5/pushrelay.conf.5.gz",
    "usr/share/doc/pushrelay/copyright", "usr/share/doc/pushrelay/changelog.gz",
}
# What the throwaway root takes from the host's /etc: the accounts adduser extends, its settings,
# and what the loader, PAM (chfn) and the scripts' tools need to run.
HOST_ETC = ["passwd", "group", "shadow", "gshadow", "login.defs", "adduser.conf", "nsswitch.conf",
            "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "default", "pam.d",
            "pam.conf", "security", "environment"]
ACCOUNT_FILES = ["passwd", "group", "shadow", "gshadow"]


def run(*command, timeout=WAIT, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


def changelog_version():
    top = (ROOT / "debian/changelog").read_text().splitlines()[0]
    return re.match(r"pushrelay \(([^)]+)\)", top).group(1)


def cmake_version():
    cmake_lists = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(pushrelay VERSION (\S+)", cmake_lists).group(1)


@pytest.fixture(scope="module")
def deb():
    if "PUSHRELAY_DEB" in os.environ:
        return Path(os.environ["PUSHRELAY_DEB"])
    arch = run("dpkg", "--print-architecture").stdout.strip()
    path = ROOT / "build-deb" / f"pushrelay_{changelog_version()}_{arch}.deb"
    if not path.exists():
        run("make", "-C", str(ROOT), "deb", "DEB_BUILD_OPTIONS=nocheck", timeout=BUILD_TIMEOUT)
    return path


class Root:
    """A throwaway root dpkg installs into; see the module's docstring."""

    def __init__(self, base):
        self.base = base
        self.path = base / "root"
        for d in ["usr", "dev", "proc", "tmp", "run", "var/log", "var/lib/dpkg/info",
                  "var/lib/dpkg/updates", "var/lib/dpkg/triggers"]:
            (self.path / d).mkdir(parents=True)
        for d in ["usr-upper", "usr-work"]:  # the overlay's upper (written) and work directories
            (base / d).mkdir()
        for name in ["status", "available"]:
            (self.path / "var/lib/dpkg" / name).touch()
        for link, target in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                             ("lib64", "usr/lib64")]:
            if Path("/" + target).exists():
                (self.path / link).symlink_to(target)
        self.copy_host_etc()
        self.namespace = self.enter_namespace()

    def enter_namespace(self):
        """Starts the process that holds the root's mounts in a private mount namespace."""
        setup = ('mount -t overlay overlay -o "lowerdir=/usr,upperdir=$1/usr-upper,'
                 'workdir=$1/usr-work" "$2/usr" && mount --bind /dev "$2/dev" && '
                 'mount -t proc proc "$2/proc" && echo mounted && exec sleep infinity')
        holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                                   setup, "sh", str(self.base), str(self.path)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if holder.stdout.readline() != "mounted\n":  # EOF when a mount fails and sh exits
            raise AssertionError(f"mounting the root failed: {holder.communicate(timeout=WAIT)}")
        return holder

    def as_mounted(self, relative):
        """A path in the root as the namespace sees it (/usr is the overlay there only)."""
        return Path(f"/proc/{self.namespace.pid}/root") / self.path.relative_to("/") / relative

    def close(self):
        self.namespace.kill()
        self.namespace.communicate(timeout=WAIT)

    def copy_host_etc(self):
        etc = self.path / "etc"
        etc.mkdir()
        for name in HOST_ETC:
            source = Path("/etc") / name
            if source.is_dir():
                shutil.copytree(source, etc / name, symlinks=True)
            elif source.exists():
                shutil.copy2(source, etc / name)
        # A host that has the package installed has its user: the root starts without it.
        for name in ACCOUNT_FILES:
            path = etc / name
            if path.exists():
                lines = path.read_text().splitlines(keepends=True)
                path.write_text("".join(l for l in lines if not l.startswith("pushrelay:")))

    def run(self, *command, timeout=WAIT):
        """Runs command in the namespace that has the root's mounts."""
        return run("nsenter", f"--target={self.namespace.pid}", "--mount", *command,
                   timeout=timeout)

    def dpkg(self, *args):
        # The root's database lists none of the package's dependencies; the host has them.
        return self.run("dpkg", f"--root={self.path}", "--force-depends", *args, timeout=60)

    def chroot(self, *command, user=None):
        spec = [f"--userspec={user}:{user}"] if user else []
        return self.run("chroot", *spec, str(self.path), *command)

    def installed_version(self):
        return run("dpkg-query", f"--admindir={self.path}/var/lib/dpkg", "-W", "-f",
                   "${Version} ${Status}", "pushrelay").stdout

    def account(self, name, file="passwd"):
        for line in (self.path / "etc" / file).read_text().splitlines():
            if line.startswith(name + ":"):
                return line.split(":")
        return None


@pytest.fixture
def root(tmp_path):
    root = Root(tmp_path)
    yield root
    root.close()


def repacked(deb, tmp_path, version, conf_addition):
    """deb with another version whose default conf ends with conf_addition."""
    tree = tmp_path / f"tree-{version}"
    run("dpkg-deb", "-R", str(deb), str(tree))
    control = tree / "DEBIAN/control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", control.read_text()))
    with open(tree / CONF, "a") as conf:
        conf.write(conf_addition)
    out = tmp_path / f"pushrelay_{version}.deb"
    run("dpkg-deb", "--root-owner-group", "-b", str(tree), str(out), timeout=60)
    return out


def members(deb):
    listing = run("dpkg-deb", "-c", str(deb)).stdout
    return {line.split()[-1].removeprefix("./") for line in listing.splitlines()
            if not line.startswith("d")}


def unit_values(text):
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_changelog_names_the_cmake_version():
    """The configure checks it too; this says which two files disagree."""
    assert re.match(r"[0-9.]+", changelog_version()).group(0) == cmake_version()


def test_package_holds_its_files_and_marks_the_conf(deb):
    assert deb.name == f"pushrelay_{changelog_version()}_{deb.name.split('_')[-1]}"
    assert members(deb) == EXPECTED_FILES
    conffiles = run("dpkg-deb", "-I", str(deb), "conffiles").stdout.split()
    assert sorted(conffiles) == ["/" + LOGROTATE, "/" + CONF]
    depends = run("dpkg-deb", "-f", str(deb), "Depends").stdout
    for library in ["libev4", "libhiredis", "libyaml-cpp", "libwslay1", "libssl3", "adduser"]:
        assert library in depends


def test_package_conf_differs_from_the_example_in_its_paths_only(deb, tmp_path):
    run("dpkg-deb", "-x", str(deb), str(tmp_path))
    packaged = (tmp_path / CONF).read_text().splitlines()
    example = (ROOT / "dist/pushrelay.conf").read_text().splitlines()
    assert "pid /run/pushrelay/pushrelay.pid;" in packaged
    assert "error_log /var/log/pushrelay/error.log notice;" in packaged
    assert "    access_log /var/log/pushrelay/access.log;" in packaged
    assert not [line for line in packaged if re.search(r"(pid|_log) logs/", line)]
    changed = set(packaged) - set(example)
    assert len(changed) == 5, changed  # the three paths and the comment saying so


def test_package_unit_keeps_the_example_units_settings(deb, tmp_path):
    """debian/pushrelay.service differs from dist/pushrelay.service in the user it runs as and
    the directories it writes; every other setting is the same."""
    run("dpkg-deb", "-x", str(deb), str(tmp_path))
    packaged = unit_values((tmp_path / UNIT).read_text())
    example = unit_values((ROOT / "dist/pushrelay.service").read_text())
    own = {"User", "Group", "DynamicUser", "StateDirectory", "LogsDirectory", "ReadWritePaths"}
    assert {k: v for k, v in packaged.items() if k not in own} == \
        {k: v for k, v in example.items() if k not in own}
    assert packaged["User"] == "pushrelay" and "DynamicUser" not in packaged
    assert packaged["ReadWritePaths"] == "/var/log/pushrelay"
    assert packaged["RuntimeDirectory"] == "pushrelay"
    assert packaged["ProtectSystem"] == "strict" and packaged["NoNewPrivileges"] == "yes"
    assert packaged["Type"] == "notify" and packaged["ExecReload"] == "/bin/kill -HUP $MAINPID"
    logrotate = (tmp_path / LOGROTATE).read_text()
    assert "/usr/sbin/pushrelay -s reopen" in logrotate


def test_install_creates_the_user_and_the_log_directory_and_enables_the_unit(deb, root):
    root.dpkg("-i", str(deb))

    assert root.installed_version() == f"{changelog_version()} install ok installed"
    user = root.account("pushrelay")
    assert user is not None and int(user[2]) < 1000, user  # a system user
    assert user[5] == "/var/lib/pushrelay" and user[6] == "/usr/sbin/nologin"
    logs = root.path / "var/log/pushrelay"
    assert oct(logs.stat().st_mode & 0o7777) == "0o750"
    assert logs.stat().st_uid == int(user[2])
    assert logs.stat().st_gid == int(root.account("adm", "group")[2])
    wants = root.path / "etc/systemd/system/multi-user.target.wants/pushrelay.service"
    assert os.readlink(wants) == "/" + UNIT


def test_installed_binary_accepts_the_installed_conf_as_the_service_user(deb, root):
    root.dpkg("-i", str(deb))

    result = root.chroot("/usr/sbin/pushrelay", "-t", user="pushrelay")
    assert "/etc/pushrelay/pushrelay.conf test is successful" in result.stderr
    version = root.chroot("/usr/sbin/pushrelay", "-V").stderr
    assert f"pushrelay/{cmake_version()}\n" in version
    assert re.search(r"built with: transports long-poll .*; grip; redis \(hiredis [0-9.]+\)",
                     version)
    assert "install prefix: /usr\n" in version


def test_installed_unit_verifies(deb, root):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing")
    root.dpkg("-i", str(deb))
    result = root.chroot("systemd-analyze", "verify", "--man=no", "/" + UNIT)
    assert result.stderr == ""


def test_upgrade_keeps_a_changed_conf(deb, root, tmp_path):
    root.dpkg("-i", str(deb))
    conf = root.path / CONF
    edited = conf.read_text() + "# edited by the administrator\n"
    conf.write_text(edited)
    uid = root.account("pushrelay")[2]
    later = repacked(deb, tmp_path, changelog_version() + "+next1",
                     "# shipped by the next version\n")

    root.dpkg("--force-confold", "-i", str(later))

    assert root.installed_version() == f"{changelog_version()}+next1 install ok installed"
    assert conf.read_text() == edited
    assert (root.path / (CONF + ".dpkg-dist")).read_text().endswith(
        "# shipped by the next version\n")
    assert root.account("pushrelay")[2] == uid
    root.chroot("/usr/sbin/pushrelay", "-t", user="pushrelay")


def test_upgrade_replaces_an_unchanged_conf(deb, root, tmp_path):
    root.dpkg("-i", str(deb))
    later = repacked(deb, tmp_path, changelog_version() + "+next1",
                     "# shipped by the next version\n")

    root.dpkg("--force-confold", "-i", str(later))

    assert (root.path / CONF).read_text().endswith("# shipped by the next version\n")
    assert not (root.path / (CONF + ".dpkg-dist")).exists()


def test_purge_removes_the_conf_and_the_logs(deb, root):
    root.dpkg("-i", str(deb))
    root.dpkg("--purge", "pushrelay")

    assert not (root.path / "etc/pushrelay").exists()
    assert not (root.path / "var/log/pushrelay").exists()
    assert not (root.path / "etc/systemd/system/multi-user.target.wants/pushrelay.service").exists()
    assert "Package: pushrelay\n" not in (root.path / "var/lib/dpkg/status").read_text()


class InstalledServer:
    """The installed binary run as a daemon in the root on its installed conf, moved to free
    ports; stop() ends every master the pid files named."""

    def __init__(self, root):
        self.root = root
        self.pub, self.sub = free_port(), free_port()
        conf = root.path / CONF
        conf.write_text(conf.read_text()
                        .replace("listen 127.0.0.1:8089;", f"listen 127.0.0.1:{self.pub};")
                        .replace("listen 127.0.0.1:8088;", f"listen 127.0.0.1:{self.sub};"))
        self.pid_file = root.path / "run/pushrelay/pushrelay.pid"
        self.pid_file.parent.mkdir()
        self.masters = []

    def start(self):
        self.root.chroot("/usr/sbin/pushrelay")  # returns once the master is a daemon
        self.masters.append(wait_until(self.master, what="the installed server's pid file"))
        wait_until(lambda: accepts(self.pub) and accepts(self.sub), what="the installed server")

    def master(self):
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def stop(self):
        for pid in self.masters:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in self.masters:
            wait_until(lambda: not alive(pid), what=f"master process {pid} to exit")

    def publish(self, channel, body):
        return publish(f"http://127.0.0.1:{self.pub}/pub?id={channel}", body).status_code

    def get(self, channel):
        r = requests.get(f"http://127.0.0.1:{self.sub}/sub?id={channel}", timeout=WAIT)
        return r.status_code, r.text


@pytest.fixture
def installed_server(deb, root):
    """The package installed and its server running, with one message stored on `kept`."""
    root.dpkg("-i", str(deb))
    server = InstalledServer(root)
    server.start()
    try:
        assert server.publish("kept", "before") == 202
        yield server
    finally:
        server.stop()


@pytest.fixture
def next_version(deb, tmp_path):
    return repacked(deb, tmp_path, changelog_version() + "+next1", "")


def test_upgrade_hands_the_running_server_over_to_the_new_binary(installed_server, root,
                                                                 next_version):
    """The postinst runs `pushrelay -s upgrade`: the running server keeps its stored messages and
    its ports, served by a master of the new binary, and the old one leaves."""
    server = installed_server
    old = server.masters[0]

    result = root.dpkg("--force-confold", "-i", str(next_version))

    new = server.master()
    server.masters.append(new)
    assert new != old
    assert (f"new master process {new} took over; the old master process {old} finishes "
            f"gracefully") in result.stderr
    wait_until(lambda: not alive(old), what="the old master to exit")
    assert server.get("kept") == (200, "before")


def test_an_upgrade_the_new_binary_refuses_leaves_the_old_server_serving(installed_server, root,
                                                                          next_version):
    """A segment layout the new binary cannot read: -s upgrade fails and the postinst says a
    restart is due (under systemd it asks for one: the next test); nothing is dropped meanwhile."""
    server = installed_server
    old = server.masters[0]

    with another_layout(old):
        result = root.dpkg("--force-confold", "-i", str(next_version))

    assert f"the upgrade failed and master process {old} serves on" in result.stderr
    assert "pushrelay: restart the server to run the new binary" in result.stderr
    assert server.master() == old
    assert server.get("kept") == (200, "before")


@pytest.fixture
def systemd_calls(root):
    """The postinst sees systemd (/run/systemd/system), and deb-systemd-invoke is a script that
    records its calls, one a line, in the file returned."""
    (root.path / "run/systemd/system").mkdir(parents=True)
    calls = root.path / "tmp/deb-systemd-invoke.calls"
    invoke = root.as_mounted("usr/bin/deb-systemd-invoke")
    invoke.write_text(f'#!/bin/sh\necho "$*" >> /tmp/{calls.name}\n')
    invoke.chmod(0o755)
    return calls


def test_under_systemd_a_handover_restarts_nothing(installed_server, root, next_version,
                                                   systemd_calls):
    """The snippet's `start` is a no-op on a running unit; no restart follows a handover."""
    result = root.dpkg("--force-confold", "-i", str(next_version))

    assert "took over" in result.stderr
    installed_server.masters.append(installed_server.master())
    assert systemd_calls.read_text().splitlines() == ["start pushrelay.service"]


def test_under_systemd_a_refused_upgrade_restarts_the_service(installed_server, root,
                                                              next_version, systemd_calls):
    with another_layout(installed_server.masters[0]):
        result = root.dpkg("--force-confold", "-i", str(next_version))

    assert "pushrelay: restarting the service instead" in result.stderr
    assert systemd_calls.read_text().splitlines() == ["start pushrelay.service",
                                                      "restart pushrelay.service"]


def test_an_upgrade_under_a_broken_conf_keeps_the_old_binary_running(installed_server, root,
                                                                     next_version):
    server = installed_server
    old = server.masters[0]
    conf = root.path / CONF
    conf.write_text(conf.read_text() + "no_such_directive on;\n")

    result = root.dpkg("--force-confold", "-i", str(next_version))

    assert "fails 'pushrelay -t': the running server keeps the old binary" in result.stderr
    assert server.master() == old and alive(old)
    assert server.get("kept") == (200, "before")


def test_upgrade_with_no_server_running_just_installs(deb, root, next_version):
    root.dpkg("-i", str(deb))

    result = root.dpkg("-i", str(next_version))

    assert not re.search(r"^pushrelay: ", result.stderr, re.M), result.stderr  # the postinst's
    assert root.installed_version() == f"{changelog_version()}+next1 install ok installed"
