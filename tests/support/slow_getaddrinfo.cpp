// LD_PRELOAD shim: a resolver that takes 4 s for every name ending in
// ".test" and then answers 127.0.0.1 (like a DNS server that is slow to
// reply). Every other lookup goes to the C library unchanged. Used to prove
// that name lookups stay inside the run's deadline (tests/integration/
// hard_deadline_test.cpp). Written as C++ with C linkage because the project
// enables C++ only.
#include <dlfcn.h>
#include <netdb.h>
#include <unistd.h>

#include <cstring>

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Real = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "getaddrinfo"));
  const std::size_t n = node != nullptr ? std::strlen(node) : 0;
  if (n >= 5 && std::strcmp(node + n - 5, ".test") == 0) {
    ::sleep(4);
    return real("127.0.0.1", service, hints, res);
  }
  return real(node, service, hints, res);
}
