#!/usr/bin/env bash
# run.sh: run the SegBook image with Docker, Podman or Apptainer, hardened, with the mount contract
#   /input (host raw data, read-only)   /output (everything written)   /weights (read-only)
#   /model (a trained model for `predict`, read-only)
# It prints the command it runs, shows the container's /output paths as host paths, lists the
# receipts, reports and demo PNG a run wrote, and returns the container's exit code.
# Its own errors: one line `error: ...` and one `hint: ...`, with the kit's exit codes:
#   2 usage · 66 input folder missing, or no weights for a pre-trained run · 73 output folder not
#   writable by the mapped uid · 78 no container runtime, image missing, GPU asked for but absent.
set -euo pipefail

readonly EX_USAGE=2 EX_NOINPUT=66 EX_CANTCREAT=73 EX_CONFIG=78
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    cat <<'EOF'
Usage: run.sh [OPTIONS] [--] SEGBOOK_ARGS...

Run `segbook SEGBOOK_ARGS...` in the SegBook container. Paths it prints under /output are shown as
the --output folder on this host; afterwards the receipts, report.html and demo PNG it wrote are listed.

Options:
  --runtime docker|podman|apptainer   container runtime (default: the first that works, in that order)
  --image REF          image (docker/podman; default segbook:<kit version>) or SIF file (apptainer;
                       default build/segbook.sif); also $SEGBOOK_IMAGE
  --input DIR          host folder mounted read-only at /input
  --output DIR         host folder mounted at /output (default ./segbook-out; created if missing)
  --weights DIR        host folder with STU-Net checkpoints, mounted read-only at /weights
  --model PATH         a trained model for `predict`, mounted read-only at /model: an exported zip
                       (then /model/NAME.zip) or a folder (run folders, zips)
  --user UID:GID       uid:gid inside the container (docker/podman; default: yours). Apptainer always
                       runs as you.
  --gpu                give the container the GPUs (docker --gpus all, podman CDI, apptainer --nv)
  --dry-run            print the command and stop
  -h, --help           this help

Environment: SEGBOOK_IMAGE (image), SEGBOOK_PODMAN_RUNTIME (OCI runtime for podman, e.g. runc;
default: crun unless it cannot start containers here, then runc).

Examples:
  ./run.sh --output out -- finetune Demo --model stunet-s --init scratch --epochs 2
  ./run.sh --gpu --input /data/Task09_Spleen --weights ~/stunet --output out -- \
      finetune Task009_Spleen --raw /input --model stunet-b
  ./run.sh --model spleen.zip --input scans --output out -- predict /model/spleen.zip /input /output/pred
  ./run.sh --runtime apptainer --image segbook.sif --output out -- doctor

Exit codes: the container's, or 2 usage, 66 input missing / no weights for a pre-trained run,
73 output not writable by the mapped uid, 78 no runtime / image missing / no GPU.
EOF
}

fail() {  # fail CODE MESSAGE HINT
    echo "error: $2" >&2
    echo "hint: $3" >&2
    exit "$1"
}

kit_version() {
    sed -n 's/^__version__ = "\(.*\)"/\1/p' "$script_dir/segbook/__init__.py" 2>/dev/null || true
}

# ---- arguments ---------------------------------------------------------------------------------
runtime="" image="${SEGBOOK_IMAGE:-}" input="" output="segbook-out" weights="" model="" user_spec="" gpu=0 dry_run=0
need_value() { [[ $# -ge 2 && -n $2 ]] || fail "$EX_USAGE" "$1 needs a value" "see ./run.sh --help"; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --runtime) need_value "$@"; runtime=$2; shift 2 ;;
        --image) need_value "$@"; image=$2; shift 2 ;;
        --input) need_value "$@"; input=$2; shift 2 ;;
        --output) need_value "$@"; output=$2; shift 2 ;;
        --weights) need_value "$@"; weights=$2; shift 2 ;;
        --model) need_value "$@"; model=$2; shift 2 ;;
        --user) need_value "$@"; user_spec=$2; shift 2 ;;
        --gpu) gpu=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) fail "$EX_USAGE" "unknown option $1" "options for segbook go after --; see ./run.sh --help" ;;
        *) break ;;
    esac
done
segbook_args=("$@")
case $runtime in
    ""|docker|podman|apptainer) ;;
    *) fail "$EX_USAGE" "unknown runtime '$runtime'" "use --runtime docker, podman or apptainer" ;;
esac
if [[ -n $user_spec && ! $user_spec =~ ^[0-9]+:[0-9]+$ ]]; then
    fail "$EX_USAGE" "--user must be UID:GID (numbers), got '$user_spec'" "e.g. --user \"\$(id -u):\$(id -g)\""
fi
uid=${user_spec%%:*} gid=${user_spec##*:}
if [[ -z $user_spec ]]; then uid=$(id -u) gid=$(id -g); fi

# ---- host folders --------------------------------------------------------------------------------
# can uid:gid write to (and enter) folder $1? judged from its owner, group and mode bits
writable_by() {
    local dir=$1 owner group mode
    if [[ $uid == 0 ]]; then return 0; fi
    if [[ $uid == "$(id -u)" ]]; then [[ -w $dir && -x $dir ]]; return; fi
    read -r owner group mode < <(stat -c '%u %g %a' "$dir")
    mode=$((8#$mode))
    if [[ $owner == "$uid" ]]; then (( (mode & 8#300) == 8#300 )); return; fi
    if [[ $group == "$gid" ]]; then (( (mode & 8#030) == 8#030 )); return; fi
    (( (mode & 8#003) == 8#003 ))
}

if [[ -n $input && ! -d $input ]]; then
    fail "$EX_NOINPUT" "input folder '$input' does not exist" "pass the folder holding the downloaded dataset with --input"
fi
if [[ ! -d $output ]] && ! mkdir -p "$output" 2>/dev/null; then
    fail "$EX_CANTCREAT" "cannot create output folder '$output'" "choose another --output"
fi
if ! writable_by "$output"; then
    fail "$EX_CANTCREAT" "output folder '$output' is not writable by uid $uid (gid $gid) that the container runs as" \
        "chown/chmod the folder for that uid, or pass --user with a uid that owns it"
fi
if [[ -n $model && ! -e $model ]]; then
    fail "$EX_NOINPUT" "model '$model' does not exist" "pass an exported zip (segbook export) or a folder of runs"
fi
if [[ -n $weights && ! -d $weights ]]; then
    fail "$EX_NOINPUT" "weights folder '$weights' does not exist" "pass the folder holding the STU-Net .model files"
fi

# a run that needs pre-trained weights: `finetune` unless --init scratch, --model nnunet or --weights FILE
needs_weights=0
if [[ " ${segbook_args[*]-} " == *" finetune "* ]]; then
    needs_weights=1
    for ((i = 0; i < ${#segbook_args[@]}; i++)); do
        arg=${segbook_args[i]} next=${segbook_args[i + 1]:-}
        case $arg in
            --init=scratch|--model=nnunet|--weights|--weights=*) needs_weights=0 ;;
            --init) [[ $next == scratch ]] && needs_weights=0 ;;
            --model) [[ $next == nnunet ]] && needs_weights=0 ;;
        esac
    done
fi
if [[ $needs_weights == 1 && -n $weights ]] && [[ -z $(find "$weights" -mindepth 1 -maxdepth 1 -print -quit) ]]; then
    fail "$EX_NOINPUT" "weights folder '$weights' is empty, and this pre-trained run needs a checkpoint" \
        "segbook weights fetch B --dest $weights (on a machine with network), or use --init scratch"
fi

# ---- runtime -------------------------------------------------------------------------------------
docker_works() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
apptainer_cmd() { command -v apptainer 2>/dev/null || command -v singularity 2>/dev/null || true; }
if [[ -z $runtime ]]; then
    if docker_works; then runtime=docker
    elif command -v podman >/dev/null 2>&1; then runtime=podman
    elif [[ -n $(apptainer_cmd) ]]; then runtime=apptainer
    else fail "$EX_CONFIG" "no container runtime found (docker, podman, apptainer)" \
        "install one (Debian: apt-get install podman runc), or run segbook natively"
    fi
fi
case $runtime in
    docker) docker_works || fail "$EX_CONFIG" "docker is not usable here (no client, or its daemon is not reachable)" \
        "start the docker daemon, or use --runtime podman" ;;
    podman) command -v podman >/dev/null 2>&1 || fail "$EX_CONFIG" "podman is not installed" \
        "apt-get install podman runc, or use --runtime docker|apptainer" ;;
    apptainer) [[ -n $(apptainer_cmd) ]] || fail "$EX_CONFIG" "apptainer (or singularity) is not installed" \
        "install Apptainer (https://apptainer.org), or use --runtime docker|podman" ;;
esac

if [[ $gpu == 1 ]] && ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    fail "$EX_CONFIG" "--gpu asked for, but no NVIDIA GPU/driver is visible on this host (nvidia-smi)" \
        "drop --gpu to run on the CPU, or install the NVIDIA driver and container toolkit"
fi

# ---- image ---------------------------------------------------------------------------------------
version=$(kit_version)
image_digest=""
if [[ $runtime == apptainer ]]; then
    image=${image:-$script_dir/build/segbook.sif}
    [[ -f $image ]] || fail "$EX_CONFIG" "SIF image '$image' not found" \
        "build it with \`make sif\` (or apptainer build segbook.sif containers/segbook.def), or pass --image"
    image_digest="sha256:$(sha256sum "$image" | cut -d' ' -f1)"
    baked=$("$(apptainer_cmd)" inspect --labels "$image" 2>/dev/null | sed -n 's/^org.segbook.weights: *//p')
else
    image=${image:-segbook:${version:-latest}}
    image_digest=$("$runtime" image inspect --format '{{.Id}}' "$image" 2>/dev/null) || fail "$EX_CONFIG" \
        "image '$image' not found by $runtime" "build it with \`make image\` (or load it: $runtime load -i FILE), or pass --image"
    [[ $image_digest == sha256:* ]] || image_digest="sha256:$image_digest"
    baked=$("$runtime" image inspect --format '{{ index .Config.Labels "org.segbook.weights" }}' "$image" 2>/dev/null || true)
fi
if [[ $needs_weights == 1 && -z $weights && ( -z $baked || $baked == none || $baked == "<no value>" ) ]]; then
    fail "$EX_NOINPUT" "this pre-trained run needs STU-Net weights, but none are mounted and the image has none baked in" \
        "pass --weights DIR (a folder with the .model files), or use --init scratch"
fi

# ---- command: built by the kit's one container command line (segbook/core/container_run.py) ------
# Standard-library Python from this checkout: the same flags as the grid's cells, repro-check and the
# CI workflow, and no path ever parsed by a shell (the argv comes back NUL-separated).
command -v python3 >/dev/null 2>&1 || fail "$EX_CONFIG" "python3 is needed to build the container command" \
    "install Python 3.10 or later (Debian: apt-get install python3)"
abs() { (cd "$1" && pwd -P); }
builder=(--engine "$runtime" --image "$image" --mount "$(abs "$output"):/output:rw")
[[ -n $input ]] && builder+=(--mount "$(abs "$input"):/input:ro")
[[ -n $weights ]] && builder+=(--mount "$(abs "$weights"):/weights:ro")
if [[ -f $model ]]; then  # one file: its folder is mounted, so the file is /model/<its name>
    builder+=(--mount "$(abs "$(dirname "$model")"):/model:ro")
elif [[ -n $model ]]; then builder+=(--mount "$(abs "$model"):/model:ro"); fi
builder+=(--env "SEGBOOK_RUNTIME=$runtime" --env "SEGBOOK_IMAGE=$image" --env "SEGBOOK_IMAGE_DIGEST=$image_digest")
if [[ $runtime == apptainer ]]; then builder+=(--binary "$(apptainer_cmd)"); else builder+=(--user "$uid:$gid"); fi
[[ $gpu == 1 ]] && builder+=(--gpu)
builder+=(--host-limits --oci-runtime "${SEGBOOK_PODMAN_RUNTIME:-}" -- "${segbook_args[@]}")
argv_file=$(mktemp "${TMPDIR:-/tmp}/segbook-argv.XXXXXX")
set +e
PYTHONPATH="$script_dir${PYTHONPATH:+:$PYTHONPATH}" python3 -m segbook.core.container_run "${builder[@]}" >"$argv_file"
code=$?
set -e
if ((code != 0)); then  # the builder printed its own two-line error
    rm -f "$argv_file"
    exit "$code"
fi
mapfile -d '' -t cmd <"$argv_file"
rm -f "$argv_file"

printf '+' >&2
printf ' %q' "${cmd[@]}" >&2
printf '\n' >&2
if [[ $dry_run == 1 ]]; then exit 0; fi

# ---- run: paths the container prints under /output are shown as this host's paths ---------------
host_output=$(abs "$output")
map_output_paths() {  # stdin -> stdout, one line (or \r-terminated progress line) at a time
    if ! command -v perl >/dev/null 2>&1; then exec cat; fi
    HOST_OUTPUT=$host_output exec perl -e '
        $| = 1; my $host = $ENV{HOST_OUTPUT}; my $buf = "";
        sub map_line { my $l = shift; $l =~ s{(?<![\w./-])/output(?=/|\b|$)}{$host}g; print $l; }
        while (sysread(STDIN, $buf, 65536, length $buf)) {
            while ($buf =~ s/\A([^\r\n]*[\r\n])//) { map_line($1); }
        }
        map_line($buf) if length $buf;'
}
started_marker=$(mktemp "${TMPDIR:-/tmp}/segbook-run.XXXXXX")
pipes=$(mktemp -d "${TMPDIR:-/tmp}/segbook-run-pipes.XXXXXX")
trap 'rm -rf "$started_marker" "$pipes"' EXIT
mkfifo "$pipes/out" "$pipes/err"
# the mappers ignore Ctrl-C and SIGTERM: they end when the container's output ends, never before
(trap '' INT TERM; map_output_paths <"$pipes/out") &
out_mapper=$!
(trap '' INT TERM; map_output_paths <"$pipes/err" >&2) &
err_mapper=$!
set +e
"${cmd[@]}" >"$pipes/out" 2>"$pipes/err"
status=$?
wait "$out_mapper" "$err_mapper"
set -e

# ---- where the results are, on this host ---------------------------------------------------------
mapfile -t produced < <(find "$host_output" -maxdepth 6 -newer "$started_marker" -type f \
    \( -name receipt.json -o -name report.html -o -name demo.png \) 2>/dev/null | sort)
if ((${#produced[@]})); then
    echo "results on this host (/output is $host_output):" >&2
    for file in "${produced[@]}"; do
        case $file in
            */receipt.json) what="receipt " ;;
            */report.html) what="report  " ;;
            *) what="demo PNG" ;;
        esac
        echo "  $what $file" >&2
    done
fi
exit "$status"
