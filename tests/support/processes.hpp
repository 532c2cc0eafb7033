// Real processes for concurrency tests: a herd of N children that all exec at
// the same instant (each blocks on one pipe until the parent closes it), with
// stdout captured per child and a hard wall-clock limit on the whole herd.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "event_dump.hpp"
#include "files.hpp"

namespace lockstep::test {

struct Child {
  pid_t pid = -1;
  std::filesystem::path out_path;
  std::filesystem::path err_path;
  int exit_code = -1;   // valid when exited
  int signal = 0;       // non-zero when killed by a signal
  bool finished = false;

  [[nodiscard]] std::string out() const { return read_file(out_path); }
  [[nodiscard]] std::string err() const { return read_file(err_path); }
  [[nodiscard]] std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in{out()};
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
};

class Herd {
 public:
  explicit Herd(std::filesystem::path dir) : dir_{std::move(dir)} { std::filesystem::create_directories(dir_); }
  Herd(const Herd&) = delete;
  Herd& operator=(const Herd&) = delete;
  ~Herd() {
    for (auto& c : children_) {
      if (!c.finished && c.pid > 0) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
      }
      dump_json_lines(c.out());
      dump_json_lines(c.err());
    }
    if (gate_[1] >= 0) ::close(gate_[1]);
  }

  // Forks `n` children that wait at the gate; argv[0] must be a path.
  void spawn(int n, const std::vector<std::string>& argv) {
    if (gate_[0] < 0 && ::pipe(gate_) != 0) throw std::runtime_error("pipe failed");
    for (int i = 0; i < n; ++i) {
      Child c;
      const auto idx = children_.size();
      c.out_path = dir_ / ("child" + std::to_string(idx) + ".out");
      c.err_path = dir_ / ("child" + std::to_string(idx) + ".err");
      const pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        ::close(gate_[1]);
        char b;
        while (::read(gate_[0], &b, 1) > 0) {
        }
        ::close(gate_[0]);
        const int out = ::open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = ::open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
      }
      c.pid = pid;
      children_.push_back(c);
    }
  }

  // Opens the gate: every waiting child execs now.
  void release() {
    ::close(gate_[0]);
    ::close(gate_[1]);
    gate_[0] = gate_[1] = -1;
  }

  // Reaps children until all are done or `limit` passes (then kills the rest,
  // which the caller's assertions will see as signal 9).
  void wait_all(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      bool all = true;
      for (auto& c : children_) {
        if (c.finished) continue;
        int status = 0;
        const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
        if (r == c.pid) {
          c.finished = true;
          if (WIFEXITED(status)) c.exit_code = WEXITSTATUS(status);
          if (WIFSIGNALED(status)) c.signal = WTERMSIG(status);
        } else {
          all = false;
        }
      }
      if (all) return;
      if (std::chrono::steady_clock::now() > until) {
        for (auto& c : children_) {
          if (!c.finished) ::kill(c.pid, SIGKILL);
        }
        hung_ = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }

  // Polls until some child's stdout contains `needle`; returns its index or -1.
  int wait_for_output(const std::string& needle, std::chrono::milliseconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (children_[i].out().find(needle) != std::string::npos) return static_cast<int>(i);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return -1;
  }

  [[nodiscard]] std::vector<Child>& children() noexcept { return children_; }
  [[nodiscard]] bool hung() const noexcept { return hung_; }

 private:
  std::filesystem::path dir_;
  std::vector<Child> children_;
  int gate_[2] = {-1, -1};
  bool hung_ = false;
};

// One process run to its end (at most `limit`), its output files under `out`.
inline Child run_one(const std::vector<std::string>& argv, const std::filesystem::path& out,
                     std::chrono::milliseconds limit = std::chrono::seconds{60}) {
  Herd h{out};
  h.spawn(1, argv);
  h.release();
  h.wait_all(limit);
  return h.children().at(0);
}

}  // namespace lockstep::test
