// The SQLite backend of the store's SQL layer.
#include "harness/store/sqlite.h"

#include <sqlite3.h>

#include "core/errors.h"

namespace dsbench::store::sql {
namespace {

class SqliteDatabase;

[[noreturn]] void fail(sqlite3* db, const std::string& name, const std::string& what, int code) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
    throw core::InputError(core::Location{name, 0, ""}, "not a dsbench run store (SQLite says: " + detail + ")");
  }
  throw core::RunError(name + ": " + what + ": " + detail);
}

class SqliteStatement : public StatementBackend {
 public:
  SqliteStatement(sqlite3* db, const std::string& name, const std::string& sql) : db_(db), name_(name), sql_(sql) {
    const int code = sqlite3_prepare_v2(db_, sql_.c_str(), static_cast<int>(sql_.size()), &statement_, nullptr);
    if (code != SQLITE_OK) fail(db_, name_, "cannot prepare '" + sql_.substr(0, 60) + "'", code);
  }
  ~SqliteStatement() override { sqlite3_finalize(statement_); }

  void bind_int64(int index, std::int64_t value) override { check(sqlite3_bind_int64(statement_, index, value)); }
  void bind_double(int index, double value) override { check(sqlite3_bind_double(statement_, index, value)); }
  void bind_text(int index, const std::string& value) override {
    check(sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  void bind_blob(int index, const void* data, std::size_t bytes) override {
    check(sqlite3_bind_blob64(statement_, index, data, bytes, SQLITE_TRANSIENT));
  }
  void bind_null(int index) override { check(sqlite3_bind_null(statement_, index)); }

  bool step() override {
    const int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    fail(db_, name_, "store statement failed ('" + sql_.substr(0, 60) + "')", code);
  }
  void reset() override {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }

  std::int64_t int64(int column) const override { return sqlite3_column_int64(statement_, column); }
  double real(int column) const override { return sqlite3_column_double(statement_, column); }
  std::string text(int column) const override {
    const auto* data = sqlite3_column_text(statement_, column);
    const int bytes = sqlite3_column_bytes(statement_, column);
    return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), bytes);
  }
  std::vector<unsigned char> blob(int column) const override {
    const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(statement_, column));
    const int bytes = sqlite3_column_bytes(statement_, column);
    return data == nullptr ? std::vector<unsigned char>() : std::vector<unsigned char>(data, data + bytes);
  }
  bool is_null(int column) const override { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

 private:
  void check(int code) const {
    if (code != SQLITE_OK) fail(db_, name_, "cannot bind a value of '" + sql_.substr(0, 60) + "'", code);
  }

  sqlite3* db_;
  const std::string& name_;
  std::string sql_;
  sqlite3_stmt* statement_ = nullptr;
};

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(const std::filesystem::path& path) : name_(path.string()) {
    const int code = sqlite3_open_v2(path.c_str(), &db_,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (code != SQLITE_OK) {
      const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
      sqlite3_close(db_);
      db_ = nullptr;
      throw core::RunError(name_ + ": cannot open the run store: " + message);
    }
    sqlite3_busy_timeout(db_, 60000);
  }
  ~SqliteDatabase() override { sqlite3_close(db_); }

  Dialect dialect() const override { return Dialect::kSqlite; }
  const std::string& name() const override { return name_; }

  void exec(const std::string& sql) override {
    char* error = nullptr;
    const int code = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (code == SQLITE_OK) return;
    const std::string message = error != nullptr ? error : sqlite3_errstr(code);
    sqlite3_free(error);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
      throw core::InputError(core::Location{name_, 0, ""}, "not a dsbench run store (SQLite says: " + message + ")");
    }
    throw core::RunError(name_ + ": store statement failed (" + sql.substr(0, 60) + "): " + message);
  }

  std::unique_ptr<StatementBackend> prepare(const std::string& sql) override {
    return std::make_unique<SqliteStatement>(db_, name_, sql);
  }
  int changes() const override { return sqlite3_changes(db_); }
  // IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading.
  void begin() override { exec("BEGIN IMMEDIATE"); }
  void commit() override { exec("COMMIT"); }
  void rollback() override { exec("ROLLBACK"); }

  int schema_version() override {
    SqliteStatement statement(db_, name_, "PRAGMA user_version");
    statement.step();
    return static_cast<int>(statement.int64(0));
  }
  void lock_for_migration() override {}  // BEGIN IMMEDIATE already serialises writers
  void apply_migration(const std::string& ddl, int new_version) override {
    exec(ddl);
    exec("PRAGMA user_version = " + std::to_string(new_version));
  }

 private:
  std::string name_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::filesystem::path& path) {
  auto database = std::make_unique<SqliteDatabase>(path);
  database->exec("PRAGMA foreign_keys = ON");
  return database;
}

}  // namespace dsbench::store::sql
