"""What Apptainer adds to an image's root file system when it builds a SIF from a definition file.

`apptainer build image.sif segbook.def` (Bootstrap: docker-archive) unpacks the image and writes
`/.singularity.d`: the definition file, labels.json, the runscript, the test and help, the
environment scripts it sources before every action (the image's ENV as
`10-docker2singularity.sh`, the def's %environment as `90-environment.sh`), the action scripts
(`exec`, `run`, `shell`, `test`, `start`) and the root-level links to them. This module renders the
same tree from the def file and the image's configuration, so `scripts/build_sif.py` can build the
SIF where Apptainer is not installed. Pure: it reads no image and runs nothing; the tests call it.

The scripts are written here, not copied from Apptainer: each does what Apptainer's documented
action does (source /.singularity.d/env/*.sh in order, then exec the runscript or the command).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

SINGULARITY_D = ".singularity.d"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SECTION = re.compile(r"%([a-z]+)\s*$")
SECTIONS = ("arguments", "labels", "environment", "runscript", "test", "help", "post", "files", "setup",
            "startscript")
# sections that would change the file system: this builder cannot run them, so it refuses the def
UNSUPPORTED = ("post", "files", "setup", "startscript")
# root-level links Apptainer makes (older tools and users call /singularity, /.run ... directly)
ROOT_LINKS = {"singularity": f"{SINGULARITY_D}/runscript", "environment": f"{SINGULARITY_D}/env/90-environment.sh",
              ".exec": f"{SINGULARITY_D}/actions/exec", ".run": f"{SINGULARITY_D}/actions/run",
              ".shell": f"{SINGULARITY_D}/actions/shell", ".test": f"{SINGULARITY_D}/actions/test"}

SOURCE_ENV = """\
for segbook_env_script in /.singularity.d/env/*.sh; do
    if [ -f "$segbook_env_script" ]; then . "$segbook_env_script"; fi
done
unset segbook_env_script
"""
ACTIONS = {
    "exec": '#!/bin/sh\n# `apptainer exec IMAGE CMD...`: the environment, then the command\n'
            + SOURCE_ENV + 'exec "$@"\n',
    "run": '#!/bin/sh\n# `apptainer run IMAGE ARGS...`: the environment, then the runscript with the arguments\n'
           + SOURCE_ENV + 'if [ -x /.singularity.d/runscript ]; then exec /.singularity.d/runscript "$@"; fi\n'
           'echo "this image has no runscript" >&2\nexit 1\n',
    "shell": '#!/bin/sh\n# `apptainer shell IMAGE`: the environment, then an interactive shell\n'
             + SOURCE_ENV + 'if [ -x /bin/bash ]; then exec /bin/bash --norc "$@"; fi\nexec /bin/sh "$@"\n',
    "test": '#!/bin/sh\n# `apptainer test IMAGE`: the environment, then the %test section\n'
            + SOURCE_ENV + 'if [ -x /.singularity.d/test ]; then exec /.singularity.d/test "$@"; fi\n'
            'echo "this image has no test" >&2\nexit 0\n',
    "start": '#!/bin/sh\n# `apptainer instance start`: the environment, then the startscript\n'
             + SOURCE_ENV + 'if [ -x /.singularity.d/startscript ]; then exec /.singularity.d/startscript "$@"; fi\n',
}


class DefinitionError(ValueError):
    """The def file cannot be built without Apptainer (the message says why)."""


@dataclass(frozen=True)
class Definition:
    text: str  # as rendered: {{ NAME }} replaced by the build arguments
    header: dict[str, str]
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        labels = {}
        for line in self.sections.get("labels", "").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                key, _, value = line.strip().partition(" ")
                labels[key] = value.strip()
        return labels


def parse_definition(text: str, build_args: dict[str, str] | None = None) -> Definition:
    """The def file's header and sections, with `{{ NAME }}` filled from %arguments and `build_args`."""
    raw = _split(text)
    defaults = {}
    for line in raw[1].get("arguments", "").splitlines():
        if "=" in line and not line.strip().startswith("#"):
            name, _, value = line.strip().partition("=")
            defaults[name.strip()] = value.strip()
    values = {**defaults, **(build_args or {})}

    def fill(match: re.Match) -> str:
        if match.group(1) not in values:
            raise DefinitionError(f"the def file uses {{{{ {match.group(1)} }}}} but no value is given for it")
        return values[match.group(1)]

    rendered = TEMPLATE.sub(fill, text)
    header, sections = _split(rendered)
    for name in UNSUPPORTED:
        if sections.get(name, "").strip():
            raise DefinitionError(f"the def file has a %{name} section, which only Apptainer can build")
    if header.get("bootstrap", "").lower() not in ("docker-archive", "docker-daemon", "docker", "oci-archive"):
        raise DefinitionError(f"the def file bootstraps from {header.get('bootstrap')!r}, not from an OCI image")
    return Definition(rendered, header, sections)


def _split(text: str) -> tuple[dict[str, str], dict[str, str]]:
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = SECTION.match(line.strip()) if line.startswith("%") else None
        if match:
            current = match.group(1)
            if current not in SECTIONS:
                raise DefinitionError(f"unknown def file section %{current}")
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
        elif ":" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition(":")
            header[key.strip().lower()] = value.strip()
    return header, {name: _dedent("\n".join(lines)) for name, lines in sections.items()}


def _dedent(body: str) -> str:
    lines = body.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines) + ("\n" if lines else "")


def docker_environment(env: list[str]) -> str:
    """The image's ENV as a shell script (Apptainer's 10-docker2singularity.sh).

    Values are quoted, never expanded. PATH is always the image's; every other variable keeps a value
    the caller passed (`--env`), as Docker's `-e` overrides an image's ENV.
    """
    lines = ["#!/bin/sh", "# the image's ENV (podman image inspect .Config.Env), as Apptainer writes it"]
    for entry in env:
        name, sep, value = entry.partition("=")
        if not sep or not ENV_NAME.match(name):
            raise DefinitionError(f"the image's ENV entry {entry!r} is not NAME=value")
        if name == "PATH":
            lines.append(f"export PATH={shlex.quote(value)}")
        else:
            lines.append(f'[ -n "${{{name}+set}}" ] || export {name}={shlex.quote(value)}')
    return "\n".join(lines) + "\n"


def labels(definition: Definition, image_config: dict, extra: dict[str, str]) -> dict[str, str]:
    """labels.json: the image's labels, then the def's %labels, then what the builder records."""
    merged = dict(image_config.get("Labels") or {})
    merged.update(definition.labels)
    merged.update(extra)
    return dict(sorted(merged.items()))


def metadata(definition: Definition, files: dict[str, str]) -> dict:
    """The JSON.Generic object Apptainer adds for `apptainer inspect` (labels, def, runscript, env)."""
    def text(name: str) -> str:
        return files[f"{SINGULARITY_D}/{name}"]

    environment = {name.rsplit("/", 1)[1]: text(name.removeprefix(f"{SINGULARITY_D}/"))
                   for name in sorted(files) if name.startswith(f"{SINGULARITY_D}/env/")}
    return {"type": "container", "data": {"attributes": {
        "labels": json.loads(text("labels.json")), "deffile": definition.text, "runscript": text("runscript"),
        "test": text("test"), "helpfile": text("runscript.help"), "environment": environment}}}


def layout(definition: Definition, image_config: dict, extra_labels: dict[str, str]) -> dict[str, str]:
    """Every file of /.singularity.d, by path relative to the root (content as text)."""
    sections = definition.sections
    config = image_config.get("Config") or image_config
    files = {
        f"{SINGULARITY_D}/Singularity": definition.text,
        f"{SINGULARITY_D}/labels.json": json.dumps(labels(definition, config, extra_labels), indent=1) + "\n",
        f"{SINGULARITY_D}/runscript": "#!/bin/sh\n" + (sections.get("runscript") or _entrypoint_runscript(config)),
        f"{SINGULARITY_D}/test": "#!/bin/sh\n" + sections.get("test", "exit 0\n"),
        f"{SINGULARITY_D}/runscript.help": sections.get("help", ""),
        f"{SINGULARITY_D}/startscript": "#!/bin/sh\n",
        f"{SINGULARITY_D}/env/01-base.sh": "#!/bin/sh\n# the base environment: nothing beyond the image's\n",
        f"{SINGULARITY_D}/env/10-docker2singularity.sh": docker_environment(list(config.get("Env") or [])),
        f"{SINGULARITY_D}/env/90-environment.sh": "#!/bin/sh\n# the def file's %environment\n"
                                                   + sections.get("environment", ""),
        f"{SINGULARITY_D}/env/99-base.sh": '#!/bin/sh\nPS1="Apptainer> "\nexport PS1\n',
    }
    files.update({f"{SINGULARITY_D}/actions/{name}": script for name, script in ACTIONS.items()})
    return files


def _entrypoint_runscript(config: dict) -> str:
    """Without a %runscript, Apptainer runs the image's ENTRYPOINT (+ CMD when no arguments are given)."""
    entrypoint = [shlex.quote(part) for part in config.get("Entrypoint") or []]
    cmd = " ".join(shlex.quote(part) for part in config.get("Cmd") or [])
    if not entrypoint and not cmd:
        return 'exec /bin/sh "$@"\n'
    default = f"set -- {cmd}; " if cmd else ""
    return f'if [ "$#" -eq 0 ]; then {default}:; fi\nexec {" ".join(entrypoint)} "$@"\n'


EXECUTABLE = ("runscript", "test", "startscript", "env/", "actions/")


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write the layout under `root` (a staging folder appended to the image's file system)."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_text(content, encoding="utf-8")
        inside = relative.removeprefix(f"{SINGULARITY_D}/")
        path.chmod(0o755 if inside.startswith(EXECUTABLE) and not inside.endswith(".help") else 0o644)
    (root / SINGULARITY_D / "libs").mkdir(mode=0o755, exist_ok=True)  # --nv binds the host's GPU libraries here
    for name, target in ROOT_LINKS.items():
        (root / name).symlink_to(target)
