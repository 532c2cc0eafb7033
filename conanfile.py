# Conan 2 recipe for lockstep, a header-only library.
# Validated offline by tests/packaging/check_packaging.py; see docs/packaging.md
# for what a maintainer runs with Conan itself.
import os

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import cmake_layout
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
    no_copy_source = True
    exports_sources = "include/*", "cmake/*", "CMakeLists.txt", "LICENSE"

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

    def package_id(self):
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, self._min_cppstd)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))
        copy(self, "lockstepEmbed*.cmake", os.path.join(self.source_folder, "cmake"),
             os.path.join(self.package_folder, "lib", "cmake", "lockstep"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "lockstep")
        self.cpp_info.set_property("cmake_target_name", "lockstep::lockstep")
        # lockstep_embed_migrations() for consumers.
        self.cpp_info.set_property("cmake_build_modules", [os.path.join("lib", "cmake", "lockstep", "lockstepEmbed.cmake")])
        self.cpp_info.builddirs = [os.path.join("lib", "cmake", "lockstep")]
        self.cpp_info.requires = ["libpqxx::pqxx", "libpq::libpq", "boost::headers"]
        if self.settings.os in ["Linux", "FreeBSD"]:
            self.cpp_info.system_libs = ["pthread"]
