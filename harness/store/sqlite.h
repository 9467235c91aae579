// The store's SQL layer: one Database interface with a SQLite and a PostgreSQL backend,
// prepared statements with typed binds and column reads, and transactions that roll back
// unless committed. The store writes its SQL once, in the subset both engines accept
// (`?N` parameters, ON CONFLICT upserts, RETURNING); the backends translate the rest
// (parameter syntax, DDL types, schema version). Failures are core::RunErrors naming the
// database; a file that is not a database is a core::InputError.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsbench::store::sql {

enum class Dialect { kSqlite, kPostgres };

class StatementBackend {
 public:
  virtual ~StatementBackend() = default;
  virtual void bind_int64(int index, std::int64_t value) = 0;
  virtual void bind_double(int index, double value) = 0;
  virtual void bind_text(int index, const std::string& value) = 0;
  virtual void bind_blob(int index, const void* data, std::size_t bytes) = 0;
  virtual void bind_null(int index) = 0;
  virtual bool step() = 0;
  virtual void reset() = 0;
  virtual std::int64_t int64(int column) const = 0;
  virtual double real(int column) const = 0;
  virtual std::string text(int column) const = 0;
  virtual std::vector<unsigned char> blob(int column) const = 0;
  virtual bool is_null(int column) const = 0;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Dialect dialect() const = 0;
  virtual const std::string& name() const = 0;  // file path, or the URL without its password
  virtual void exec(const std::string& sql) = 0;
  virtual std::unique_ptr<StatementBackend> prepare(const std::string& sql) = 0;
  virtual int changes() const = 0;  // rows changed by the last statement
  virtual void begin() = 0;         // takes the write lock up front where the engine allows
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual int schema_version() = 0;
  // Inside a transaction: serialises migrations, applies one step and records its number.
  virtual void lock_for_migration() = 0;
  virtual void apply_migration(const std::string& ddl, int new_version) = 0;
};

// SQLite file (created with its parent folders). Connections wait up to a minute for a
// writer instead of failing with SQLITE_BUSY.
std::unique_ptr<Database> open_sqlite(const std::filesystem::path& path);
// postgresql://user:password@host:port/dbname (libpq URI). InputError when dsbench was
// built without libpqxx.
std::unique_ptr<Database> open_postgres(const std::string& url);
bool postgres_available();
std::string redact_url(const std::string& url);  // drops the password

class Statement {
 public:
  Statement(Database& database, std::string_view sql) : backend_(database.prepare(std::string(sql))) {}

  // 1-based parameter indices.
  Statement& bind(int index, std::int64_t value) {
    backend_->bind_int64(index, value);
    return *this;
  }
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, std::uint64_t value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value) {
    backend_->bind_double(index, value);
    return *this;
  }
  Statement& bind(int index, const std::string& value) {
    backend_->bind_text(index, value);
    return *this;
  }
  Statement& bind(int index, const char* value) { return bind(index, std::string(value)); }
  Statement& bind_blob(int index, const void* data, std::size_t bytes) {
    backend_->bind_blob(index, data, bytes);
    return *this;
  }
  Statement& bind_null(int index) {
    backend_->bind_null(index);
    return *this;
  }
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  bool step() { return backend_->step(); }
  void run() {
    while (step()) {
    }
  }
  void reset() { backend_->reset(); }

  // 0-based column indices.
  std::int64_t int64(int column) const { return backend_->int64(column); }
  std::uint64_t uint64(int column) const { return static_cast<std::uint64_t>(int64(column)); }
  double real(int column) const { return backend_->real(column); }
  std::string text(int column) const { return backend_->text(column); }
  std::vector<unsigned char> blob(int column) const { return backend_->blob(column); }
  bool is_null(int column) const { return backend_->is_null(column); }

 private:
  std::unique_ptr<StatementBackend> backend_;
};

class Transaction {
 public:
  explicit Transaction(Database& database) : database_(database) { database_.begin(); }
  ~Transaction() {
    if (!done_) {
      try {
        database_.rollback();
      } catch (...) {
        // Already rolled back by the engine (e.g. after a full disk): nothing to undo.
      }
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    database_.commit();
    done_ = true;
  }

 private:
  Database& database_;
  bool done_ = false;
};

}  // namespace dsbench::store::sql
