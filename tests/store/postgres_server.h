// A throwaway PostgreSQL server for tests: initdb into a temporary folder, start it on a
// free loopback port, create databases on demand, stop and delete it at the end. Needs
// Debian's postgresql package (scripts/setup.sh installs it); tests skip without it.
// Under root the server runs as the `postgres` user (PostgreSQL refuses root).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace dsbench::testing {

class PostgresServer {
 public:
  // The server of this test process, started on first use; nullptr when PostgreSQL is
  // not installed (the reason is in skip_reason()).
  static PostgresServer* instance() {
    static std::optional<PostgresServer> server;
    static bool tried = false;
    if (!tried) {
      tried = true;
      const auto bin = find_bin();
      if (bin.empty()) {
        skip_reason() = "PostgreSQL is not installed (apt-get install postgresql)";
      } else {
        try {
          server.emplace(bin);
        } catch (const std::exception& error) {
          skip_reason() = std::string("could not start PostgreSQL: ") + error.what();
          server.reset();
        }
      }
    }
    return server ? &*server : nullptr;
  }
  static std::string& skip_reason() {
    static std::string reason;
    return reason;
  }

  explicit PostgresServer(const std::filesystem::path& bin) : bin_(bin) {
    dir_ = std::filesystem::temp_directory_path() / ("dsbench_pg_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    port_ = free_port();
    const std::string data = (dir_ / "data").string();
    if (::geteuid() == 0) {
      run("chown postgres '" + dir_.string() + "'");
      as_user_ = "runuser -u postgres -- ";
    }
    run(as_user_ + "'" + (bin_ / "initdb").string() + "' -D '" + data +
        "' -U postgres -A trust --no-sync -E UTF8 > '" + (dir_ / "initdb.log").string() + "' 2>&1");
    run(as_user_ + "'" + (bin_ / "pg_ctl").string() + "' -D '" + data + "' -l '" + (dir_ / "server.log").string() +
        "' -w -t 60 -o \"-p " + std::to_string(port_) + " -h 127.0.0.1 -k '" + dir_.string() +
        "' -F -c max_connections=50\" start > /dev/null");
    started_ = true;
  }

  ~PostgresServer() {
    if (started_) {
      const std::string data = (dir_ / "data").string();
      std::system((as_user_ + "'" + (bin_ / "pg_ctl").string() + "' -D '" + data + "' -m immediate stop > /dev/null 2>&1")
                      .c_str());
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A new, empty database; its URL.
  std::string create_database(const std::string& name) {
    psql("DROP DATABASE IF EXISTS " + name);
    psql("CREATE DATABASE " + name);
    return url(name);
  }
  std::string url(const std::string& database) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }
  int port() const { return port_; }

 private:
  static std::filesystem::path find_bin() {
    const std::filesystem::path root = "/usr/lib/postgresql";
    if (!std::filesystem::exists(root)) return {};
    for (const auto& entry : std::filesystem::directory_iterator(root)) {
      if (std::filesystem::exists(entry.path() / "bin/initdb")) return entry.path() / "bin";
    }
    return {};
  }

  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    const int port = ntohs(address.sin_port);
    ::close(fd);
    return port;
  }

  static void run(const std::string& command) {
    if (std::system(command.c_str()) != 0) throw std::runtime_error("command failed: " + command);
  }

  void psql(const std::string& sql) const {
    run("psql -q -h 127.0.0.1 -p " + std::to_string(port_) + " -U postgres -d postgres -c '" + sql + "' > /dev/null");
  }

  std::filesystem::path bin_;
  std::filesystem::path dir_;
  std::string as_user_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace dsbench::testing
