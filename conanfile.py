# Conan 2 recipe for lockstep, a header-only library, and optionally its
# program (with_program=True: bin/lockstep, for init containers and
# pre-deploy jobs).
# Validated offline by tests/packaging/check_packaging.py; see docs/packaging.md
# for what a maintainer runs with Conan itself.
import os

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy

required_conan_version = ">=2.0"


class LockstepConan(ConanFile):
    name = "lockstep"
    version = "0.1.0"
    description = ("Safe PostgreSQL schema migrations at application startup, "
                   "even when many replicas start at once")
    license = "MIT"
    url = "https://github.com/conan-io/conan-center-index"
    homepage = "https://github.com/lockstep-project/lockstep"
    topics = ("postgresql", "migrations", "database", "schema", "kubernetes", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"with_program": [True, False]}
    default_options = {"with_program": False}
    no_copy_source = True
    exports_sources = "include/*", "cmake/*", "CMakeLists.txt", "LICENSE", "docs/schema/*", "examples/*"

    @property
    def _min_cppstd(self):
        return 20

    def layout(self):
        cmake_layout(self, src_folder=".")

    def requirements(self):
        # libpqxx 7.x and 8.x (Conan Center ships both); lockstep's adapter also
        # supports 6.4, which Conan Center no longer offers.
        self.requires("libpqxx/[>=7.8 <9]", transitive_headers=True)
        # libpq itself: lockstep calls it directly where libpqxx exposes nothing
        # (parsing connection strings, the SQLSTATE of a refused connection).
        self.requires("libpq/[>=13]", transitive_headers=True)
        # Boost.Outcome is header-only; 1.74 through the newest 1.x.
        self.requires("boost/[>=1.74 <2]", transitive_headers=True, libs=False)

    def configure(self):
        if self.options.with_program:
            # Headers and an executable built for these settings.
            self.package_type = "unknown"

    def package_id(self):
        if not self.info.options.with_program:
            self.info.clear()

    def generate(self):
        if not self.options.with_program:
            return
        tc = CMakeToolchain(self)
        tc.variables["LOCKSTEP_BUILD_PROGRAM"] = True
        tc.variables["LOCKSTEP_BUILD_EXAMPLES"] = False
        tc.variables["LOCKSTEP_BUILD_TESTS"] = False
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        if self.options.with_program:
            cmake = CMake(self)
            cmake.configure()
            cmake.build(target="lockstep_cli")

    def validate(self):
        check_min_cppstd(self, self._min_cppstd)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))
        copy(self, "lockstepEmbed*.cmake", os.path.join(self.source_folder, "cmake"),
             os.path.join(self.package_folder, "lib", "cmake", "lockstep"))
        # The JSON Schemas of lockstep's events and `lockstep status --json`.
        copy(self, "*.schema.json", os.path.join(self.source_folder, "docs", "schema"),
             os.path.join(self.package_folder, "res", "lockstep", "schema"))
        if self.options.with_program:
            copy(self, "lockstep", os.path.join(self.build_folder, "examples"), os.path.join(self.package_folder, "bin"))

    def package_info(self):
        self.cpp_info.bindirs = ["bin"] if self.options.with_program else []
        self.cpp_info.libdirs = []
        self.cpp_info.resdirs = ["res"]
        self.cpp_info.set_property("cmake_file_name", "lockstep")
        self.cpp_info.set_property("cmake_target_name", "lockstep::lockstep")
        # lockstep_embed_migrations() for consumers.
        self.cpp_info.set_property("cmake_build_modules", [os.path.join("lib", "cmake", "lockstep", "lockstepEmbed.cmake")])
        self.cpp_info.builddirs = [os.path.join("lib", "cmake", "lockstep")]
        self.cpp_info.requires = ["libpqxx::pqxx", "libpq::libpq", "boost::headers"]
        if self.settings.os in ["Linux", "FreeBSD"]:
            self.cpp_info.system_libs = ["pthread"]
