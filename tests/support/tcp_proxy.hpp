// A TCP proxy on loopback that can freeze: it forwards both ways until
// freeze(), then goes silent (reads nothing, answers nothing, accepts no new
// connection, closes nothing), like a proxy or NAT that lost the server
// without telling the client. And a listener that accepts the TCP
// handshake (in the kernel's backlog) and never answers at all.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "lockstep/detail/base/conninfo.hpp"

namespace lockstep::test {

// One option of a test server's URL (host, port, user): where a proxy in
// front of it connects, and what a URL through the proxy logs in as.
inline std::string option_of(const std::string& url, const char* key) {
  auto c = detail::Conninfo::parse(url);
  REQUIRE(c);
  const auto* v = c.value().find(key);
  return v != nullptr ? *v : std::string{};
}

inline int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    throw std::runtime_error("cannot listen on loopback");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Completes handshakes (the kernel does) and never reads or writes.
class BlackHole {
 public:
  BlackHole() : fd_{listen_loopback(port_)} {}
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  ~BlackHole() { ::close(fd_); }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

 private:
  std::uint16_t port_ = 0;
  int fd_;
};

class FreezingProxy {
 public:
  FreezingProxy(std::string upstream_host, std::uint16_t upstream_port)
      : host_{std::move(upstream_host)}, upstream_port_{upstream_port}, fd_{listen_loopback(port_)} {
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }
  FreezingProxy(const FreezingProxy&) = delete;
  FreezingProxy& operator=(const FreezingProxy&) = delete;
  ~FreezingProxy() {
    stop_ = true;
    acceptor_.join();  // the only thread that adds pumps
    for (auto& t : threads_) t.join();
    std::lock_guard lk{mutex_};
    for (int s : sockets_) ::close(s);
    ::close(fd_);
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  void freeze() noexcept { frozen_ = true; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (frozen_ || ::poll(&p, 1, 50) <= 0) {
        if (frozen_) std::this_thread::sleep_for(std::chrono::milliseconds{50});
        continue;
      }
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(upstream_port_);
      ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      {
        std::lock_guard lk{mutex_};
        sockets_.push_back(client);
        sockets_.push_back(server);
      }
      threads_.emplace_back([this, client, server] { pump(client, server); });
    }
  }

  void pump(int a, int b) {
    char buf[16384];
    while (!stop_) {
      if (frozen_) {
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        continue;
      }
      pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)) || frozen_) continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n <= 0) return;  // one side closed: stop forwarding (sockets close with the proxy)
        const int to = i == 0 ? b : a;
        for (ssize_t done = 0; done < n;) {
          const ssize_t w = ::send(to, buf + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
          if (w <= 0) return;
          done += w;
        }
      }
    }
  }

  std::string host_;
  std::uint16_t upstream_port_;
  std::uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> frozen_{false};
  std::mutex mutex_;
  std::vector<int> sockets_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace lockstep::test
