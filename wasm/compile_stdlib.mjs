// Compiles the standard library modules the core needs, and the core itself, to .pyc inside
// Pyodide (so the bytecode matches Pyodide's CPython 3.14), and writes them as one deterministic
// ZIP_STORED zip that replaces python_stdlib.zip in the browser.
//
// usage: node compile_stdlib.mjs PYODIDE_DIR SOURCE_DIR TRACE_PY OUT_ZIP
//   SOURCE_DIR holds openproctor/core/*.py; TRACE_PY is run to find the modules a session loads.
import { readFileSync, writeFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, sourceDir, tracePy, outZip] = process.argv.slice(2).map((p) => resolve(p));
const { loadPyodide } = await import(pathToFileURL(join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ indexURL: pyodideDir + "/" });

function copyTree(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const target = "/build/src/" + relative(sourceDir, path);
    if (statSync(path).isDirectory()) {
      py.FS.mkdirTree(target);
      copyTree(path);
    } else if (name.endsWith(".py")) {
      py.FS.writeFile(target, readFileSync(path));
    }
  }
}
py.FS.mkdirTree("/build/src");
copyTree(sourceDir);

// Exercise the error path too: Pyodide formats Python exceptions for JS with `traceback`.
try {
  py.runPython("import sys; sys.path.insert(0, '/build/src')\nimport openproctor.core\n"
    + "openproctor.core.parse_policy({})");
} catch (error) {
  if (!String(error).includes("PolicyError")) throw error;
}
py.runPython(readFileSync(tracePy, "utf8"));
// Record what the session loaded before the compiler below imports its own tools.
py.runPython(`
import sys
_traced = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
`);
const count = py.runPython(`
import importlib.util, os, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

STDLIB = "/lib/python314.zip"
stdlib = zipfile.ZipFile(STDLIB)
names = set(stdlib.namelist())
wanted = {path[len(STDLIB) + 1:] for path in _traced if path.startswith(STDLIB + "/")}
# The parents' __init__ of every package module, so imports resolve.
for name in list(wanted):
    parts = name.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        init = "/".join(parts[:i]) + "/__init__.py"
        if init in names:
            wanted.add(init)

def pyc(source: bytes, filename: str) -> bytes:
    code = compile(source, filename, "exec", dont_inherit=True)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))

entries = {}
for name in sorted(wanted):
    entries[name[:-3] + ".pyc"] = pyc(stdlib.read(name), f"{STDLIB}/{name}")
for root, _dirs, files in os.walk("/build/src"):
    for file in files:
        if file.endswith(".py"):
            path = os.path.join(root, file)
            name = os.path.relpath(path, "/build/src")
            with open(path, "rb") as handle:
                entries[name[:-3] + ".pyc"] = pyc(handle.read(), f"{STDLIB}/{name}")
if "openproctor/__init__.pyc" not in entries:
    entries["openproctor/__init__.pyc"] = pyc(b"", f"{STDLIB}/openproctor/__init__.py")

with zipfile.ZipFile("/build/out.zip", "w", zipfile.ZIP_STORED) as out:
    for name in sorted(entries):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        out.writestr(info, entries[name])
len(entries)
`);
writeFileSync(outZip, py.FS.readFile("/build/out.zip"));
console.log(`compiled ${count} modules into ${outZip}`);
