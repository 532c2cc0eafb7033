#!/usr/bin/env python3
"""Offline checks of the Conan recipe and the vcpkg port (neither tool can be
installed on our machines). docs/packaging.md says what this proves and what a
maintainer still runs with the real tools.

  check_packaging.py SOURCE_DIR
"""
import ast
import fnmatch
import glob
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import types

src = os.path.abspath(sys.argv[1])
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


cmake = open(os.path.join(src, "CMakeLists.txt")).read()
project_version = re.search(r"project\(lockstep\s+VERSION\s+([0-9.]+)", cmake).group(1)

# ---- Conan: the fields Conan Center's linter and hooks look at ----------------
recipe_path = os.path.join(src, "conanfile.py")
tree = ast.parse(open(recipe_path).read(), recipe_path)
classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
check(len(classes) == 1, "conanfile.py defines one ConanFile class")
attrs = {}
methods = set()
for node in classes[0].body:
    if isinstance(node, ast.Assign):
        for t in node.targets:
            if isinstance(t, ast.Name):
                try:
                    attrs[t.id] = ast.literal_eval(node.value)
                except ValueError:
                    attrs[t.id] = None
    if isinstance(node, ast.FunctionDef):
        methods.add(node.name)
for field in ("name", "version", "description", "license", "url", "homepage", "topics", "package_type", "settings"):
    check(field in attrs and attrs[field], f"conanfile declares {field}")
check(attrs.get("name") == "lockstep", "conanfile name is lockstep")
check(attrs.get("version") == project_version, f"conanfile version equals the CMake project version {project_version}")
check(attrs.get("package_type") == "header-library", "package_type is header-library")
check(attrs.get("no_copy_source") is True, "no_copy_source for a header-only recipe")
check(attrs.get("url") == "https://github.com/conan-io/conan-center-index", "url is the Conan Center index")
check(attrs.get("license") == "MIT" and os.path.exists(os.path.join(src, "LICENSE")), "license matches LICENSE")
check(attrs.get("default_options") == {"with_program": False}, "the program is optional and off by default")
for m in ("layout", "requirements", "package_id", "validate", "package", "package_info", "generate", "build"):
    check(m in methods, f"conanfile has {m}()")
check(any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "required_conan_version" for t in n.targets)
          for n in tree.body), "required_conan_version is set")

# Run the recipe against stub conan modules: requirements, package, package_info.
calls = {"requires": [], "min_cppstd": None}


def stub(name, **members):
    mod = types.ModuleType(name)
    mod.__dict__.update(members)
    sys.modules[name] = mod
    return mod


class ConanFile:  # noqa: the stub base class
    pass


def copy(self, pattern, src_dir, dst_dir):
    for path in glob.glob(os.path.join(src_dir, "**", "*"), recursive=True):
        rel = os.path.relpath(path, src_dir)
        if os.path.isfile(path) and fnmatch.fnmatch(os.path.basename(rel), pattern):
            os.makedirs(os.path.join(dst_dir, os.path.dirname(rel)), exist_ok=True)
            shutil.copy(path, os.path.join(dst_dir, rel))


stub("conan", ConanFile=ConanFile)
stub("conan.tools")
stub("conan.tools.build", check_min_cppstd=lambda self, v: calls.__setitem__("min_cppstd", v))
class CMakeToolchain:  # noqa: records what the recipe asks of CMake
    def __init__(self, conanfile):
        self.variables = {}
        calls["toolchain"] = self

    def generate(self):
        pass


class CMakeDeps:  # noqa
    def __init__(self, conanfile):
        pass

    def generate(self):
        calls["deps"] = True


class CMake:  # noqa
    def __init__(self, conanfile):
        pass

    def configure(self):
        calls["configured"] = True

    def build(self, target=None):
        calls["built"] = target


stub("conan.tools.cmake", cmake_layout=lambda self, **kw: None, CMake=CMake, CMakeDeps=CMakeDeps,
     CMakeToolchain=CMakeToolchain)
stub("conan.tools.files", copy=copy)
spec = importlib.util.spec_from_file_location("recipe", recipe_path)
recipe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe)
r = recipe.LockstepConan()
r.requires = lambda ref, **kw: calls["requires"].append((ref, kw))
r.requirements()
refs = dict(calls["requires"])
check(any(re.fullmatch(r"libpqxx/\[>=7\.\d+ <9\]", k) for k in refs), "requires libpqxx with a 7.x-8.x range")
check(any(k.startswith("libpq/") for k in refs), "requires libpq (lockstep calls it directly)")
check(any(re.fullmatch(r"boost/\[>=1\.74 <2\]", k) for k in refs), "requires boost with a >=1.74 range")
check(all(kw.get("transitive_headers") for kw in refs.values()), "dependencies' headers are transitive")
r.validate()
check(calls["min_cppstd"] == 20, "validate() requires C++20")
r.options = types.SimpleNamespace(with_program=False)
r.info = types.SimpleNamespace(options=r.options, clear=lambda: calls.__setitem__("cleared", True))
r.package_id()
check(calls.get("cleared") is True, "without the program the package id is header-only (settings cleared)")
r.generate()
r.build()
check("toolchain" not in calls and "built" not in calls, "without the program nothing is built")
r.options.with_program = True
calls.pop("cleared")
r.package_id()
check("cleared" not in calls, "with the program the package id keeps the settings it was built for")
r.generate()
r.build()
tc = calls.get("toolchain")
check(tc is not None and tc.variables.get("LOCKSTEP_BUILD_PROGRAM") is True and
      tc.variables.get("LOCKSTEP_BUILD_TESTS") is False and tc.variables.get("LOCKSTEP_BUILD_EXAMPLES") is False,
      "with the program CMake builds it alone (no tests, no examples)")
check(calls.get("built") == "lockstep_cli", "with the program the build target is lockstep_cli")
check(re.search(r'option\(LOCKSTEP_BUILD_PROGRAM', cmake) is not None, "CMakeLists.txt has LOCKSTEP_BUILD_PROGRAM")
exported = attrs.get("exports_sources") or ()
for needed in ("examples/*", "docs/schema/*"):
    check(needed in exported, f"exports_sources has {needed} (the program's source, the schemas)")
r.options.with_program = False
with tempfile.TemporaryDirectory() as pkg:
    r.source_folder, r.package_folder = src, pkg
    r.package()
    for schema in ("events", "status"):
        check(os.path.isfile(os.path.join(pkg, "res", "lockstep", "schema", f"{schema}.schema.json")),
              f"package() ships docs/schema/{schema}.schema.json")
    check(os.path.isfile(os.path.join(pkg, "include", "lockstep", "lockstep.hpp")), "package() copies the headers")
    check(os.path.isfile(os.path.join(pkg, "include", "lockstep", "detail", "base", "pqxx_adapter.hpp")),
          "package() keeps include/lockstep/detail")
    check(os.path.isfile(os.path.join(pkg, "licenses", "LICENSE")), "package() copies the licence")

    class Props:
        def __init__(self):
            self.props = {}

        def set_property(self, k, v):
            self.props[k] = v

    r.cpp_info = Props()
    r.settings = types.SimpleNamespace(os="Linux")
    r.package_info()
    props = r.cpp_info.props
    check(props.get("cmake_file_name") == "lockstep", "CMake file name lockstep (find_package(lockstep))")
    check(props.get("cmake_target_name") == "lockstep::lockstep", "CMake target lockstep::lockstep")
    for module in props.get("cmake_build_modules", []):
        check(os.path.isfile(os.path.join(pkg, module)), f"build module {module} is in the package")
        check(os.path.isfile(os.path.join(pkg, os.path.dirname(module), "lockstepEmbedGenerate.cmake")),
              "the embed generator sits beside its build module")
    check(r.cpp_info.bindirs == [] and r.cpp_info.libdirs == [], "no bin or lib dirs for a header-only package")

tp = os.path.join(src, "test_package")
check(os.path.isfile(os.path.join(tp, "conanfile.py")), "test_package/conanfile.py exists")
ast.parse(open(os.path.join(tp, "conanfile.py")).read())
check("tested_reference_str" in open(os.path.join(tp, "conanfile.py")).read(), "test_package requires the tested reference")
check("find_package(lockstep CONFIG REQUIRED)" in open(os.path.join(tp, "CMakeLists.txt")).read(),
      "test_package uses find_package(lockstep CONFIG REQUIRED)")

# ---- vcpkg: the manifest's required fields and the standard helpers ----------
port = os.path.join(src, "ports", "lockstep")
manifest = json.load(open(os.path.join(port, "vcpkg.json")))
allowed = {"$schema", "name", "version", "version-string", "version-semver", "version-date", "port-version",
           "description", "homepage", "documentation", "license", "supports", "dependencies", "features",
           "default-features", "maintainers", "builtin-baseline", "overrides"}
check(set(manifest) <= allowed, "vcpkg.json has only manifest-schema fields")
check(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", manifest.get("name", "")) is not None, "vcpkg name is a valid port name")
check(manifest.get("name") == os.path.basename(port), "vcpkg name matches the port directory")
check(manifest.get("version") == project_version, f"vcpkg version equals the CMake project version {project_version}")
for field in ("description", "homepage", "license"):
    check(bool(manifest.get(field)), f"vcpkg.json declares {field}")
deps = {d if isinstance(d, str) else d["name"]: d for d in manifest.get("dependencies", [])}
check("libpqxx" in deps and "boost-outcome" in deps, "vcpkg depends on libpqxx and boost-outcome")
check("libpq" in deps, "vcpkg depends on libpq (lockstep calls it directly)")
for host in ("vcpkg-cmake", "vcpkg-cmake-config"):
    check(isinstance(deps.get(host), dict) and deps[host].get("host") is True, f"{host} is a host dependency")
portfile = open(os.path.join(port, "portfile.cmake")).read()
for helper in ("vcpkg_from_github", "vcpkg_cmake_configure", "vcpkg_cmake_install", "vcpkg_cmake_config_fixup",
               "vcpkg_install_copyright"):
    check(helper + "(" in portfile, f"portfile uses {helper}")
config_path = re.search(r"vcpkg_cmake_config_fixup\(CONFIG_PATH\s+(\S+)\)", portfile).group(1)
check(config_path == "share/cmake/lockstep" and "${CMAKE_INSTALL_DATADIR}/cmake/lockstep" in cmake,
      "the portfile's CONFIG_PATH is where CMake installs the package config")
check("-DLOCKSTEP_BUILD_TESTS=OFF" in portfile, "the port does not build lockstep's tests")
check("tool" in manifest.get("features", {}), "the port offers the program as the tool feature")
check(re.search(r"vcpkg_check_features\([^)]*tool\s+LOCKSTEP_BUILD_PROGRAM", portfile, re.S) is not None
      and "${FEATURE_OPTIONS}" in portfile, "the tool feature turns LOCKSTEP_BUILD_PROGRAM on")
check(re.search(r'if\("tool" IN_LIST FEATURES\)\s*vcpkg_copy_tools\(TOOL_NAMES lockstep', portfile) is not None,
      "the tool feature moves bin/lockstep to tools/lockstep")
check(os.path.isfile(os.path.join(port, "usage")), "the port has a usage file")

print(f"{len(failures)} failed" if failures else "packaging checks passed")
sys.exit(1 if failures else 0)
