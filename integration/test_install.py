"""Installation: what `make install` (cmake --install) puts where, the default conf path the
binary is built with, and the man pages.

Installs from the build directory that holds $PUSHRELAY_BIN (no rebuild) into a
temp DESTDIR, as `make install PREFIX=... DESTDIR=...` does.
"""
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT, WAIT

MAN_PAGES = {"man8/pushrelay.8": "man/pushrelay.8",
             "man5/pushrelay.conf.5": "man/pushrelay.conf.5"}


def install(binary, destdir, prefix):
    """Runs cmake --install for binary's build directory into destdir."""
    env = dict(os.environ, DESTDIR=str(destdir))
    result = subprocess.run(["cmake", "--install", str(binary.parent), "--prefix", prefix],
                            env=env, capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def unit_line(unit_text, key):
    lines = [line for line in unit_text.splitlines() if line.startswith(key + "=")]
    assert len(lines) == 1, f"{key}= in the unit: {lines}"
    return lines[0][len(key) + 1:]


def test_usr_prefix_puts_everything_in_place(tmp_path, binary):
    install(binary, tmp_path, "/usr")

    sbin = tmp_path / "usr/sbin/pushrelay"
    assert sbin.stat().st_mode & stat.S_IXUSR
    for installed, source in MAN_PAGES.items():
        assert (tmp_path / "usr/share/man" / installed).read_text() == (ROOT / source).read_text()
    conf = tmp_path / "etc/pushrelay/pushrelay.conf"
    assert conf.read_text() == (ROOT / "dist/pushrelay.conf").read_text()
    assert not (tmp_path / "usr/etc").exists()

    unit = (tmp_path / "usr/lib/systemd/system/pushrelay.service").read_text()
    assert unit_line(unit, "Type") == "notify"
    assert unit_line(unit, "ExecStart") == (
        "/usr/sbin/pushrelay -c /etc/pushrelay/pushrelay.conf -g 'daemon off;'")
    assert unit_line(unit, "ExecReload") == "/bin/kill -HUP $MAINPID"


def test_installed_binary_accepts_the_installed_conf(tmp_path, binary):
    install(binary, tmp_path, "/usr")
    state = tmp_path / "state"
    state.mkdir()
    result = subprocess.run([str(tmp_path / "usr/sbin/pushrelay"), "-t", "-p", str(state),
                             "-c", str(tmp_path / "etc/pushrelay/pushrelay.conf")],
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stderr


def test_other_prefix_keeps_conf_under_it_and_unit_names_it(tmp_path, binary):
    install(binary, tmp_path, "/opt/pr")

    assert (tmp_path / "opt/pr/sbin/pushrelay").exists()
    assert (tmp_path / "opt/pr/etc/pushrelay/pushrelay.conf").exists()
    assert not (tmp_path / "etc").exists()
    unit = (tmp_path / "opt/pr/lib/systemd/system/pushrelay.service").read_text()
    assert unit_line(unit, "ExecStart") == (
        "/opt/pr/sbin/pushrelay -c /opt/pr/etc/pushrelay/pushrelay.conf -g 'daemon off;'")


def configured_prefix(binary):
    """CMAKE_INSTALL_PREFIX of binary's build directory."""
    cache = (binary.parent / "CMakeCache.txt").read_text()
    return re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)


@pytest.mark.parametrize("prefix, conf_dir", [
    ("/usr", "/etc/pushrelay"), ("/usr/", "/etc/pushrelay"), ("/", "/etc/pushrelay"),
    ("/usr/local", "/usr/local/etc/pushrelay"), ("/opt/pr/", "/opt/pr/etc/pushrelay")])
def test_conf_dir_rule(tmp_path, prefix, conf_dir):
    """cmake/conf_dir.cmake, which both the compiled-in default and the install code use."""
    script = tmp_path / "rule.cmake"
    script.write_text(f'include("{ROOT}/cmake/conf_dir.cmake")\n'
                      f'pushrelay_conf_dir("{prefix}" dir)\nmessage("${{dir}}")\n')
    result = subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True,
                            timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == conf_dir


def test_default_conf_follows_the_configured_prefix(tmp_path, binary):
    prefix = configured_prefix(binary)
    expected = ("/etc/pushrelay" if prefix.rstrip("/") == "/usr" else
                prefix.rstrip("/") + "/etc/pushrelay") + "/pushrelay.conf"
    result = subprocess.run([str(binary), "-h"], capture_output=True, text=True, timeout=WAIT)
    assert f"set configuration file (default: {expected})" in result.stderr
    installed = install(binary, tmp_path, prefix)
    assert "built for another prefix" not in installed.stderr
    assert (tmp_path / expected.lstrip("/")).exists()


def test_installing_under_another_prefix_warns(tmp_path, binary):
    other = "/opt/other" if configured_prefix(binary) != "/opt/other" else "/opt/else"
    result = install(binary, tmp_path, other)
    assert "built for another prefix" in result.stderr
    assert f"make install PREFIX={other}" in " ".join(result.stderr.split())


def test_an_edited_conf_is_kept(tmp_path, binary):
    conf = tmp_path / "etc/pushrelay/pushrelay.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# edited by the administrator\n")

    install(binary, tmp_path, "/usr")

    assert conf.read_text() == "# edited by the administrator\n"
    assert (tmp_path / "usr/sbin/pushrelay").exists()


@pytest.mark.parametrize("page", sorted(MAN_PAGES.values()))
def test_man_page_renders_without_warnings(page):
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    result = subprocess.run(["man", "--warnings", "-l", str(ROOT / page)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "SEE ALSO" in result.stdout
