// FileReloader: what it applies, what it refuses, and when it tries again.
#include "server/reload/file_reloader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace txgate::reload {
namespace {

class FileReloaderTest : public ::testing::Test {
 protected:
  FileReloaderTest() {
    char tmpl[] = "/tmp/txgate-reloader.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~FileReloaderTest() override { (void)std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }

  // A reloader of one set, `a` and `b`, whose apply refuses contents
  // starting with "bad" and records what it took.
  std::unique_ptr<FileReloader> Make() {
    WatchedFiles files{"pair",
                       {Write("a", "a1"), "", Write("b", "b1")},
                       [this](const std::vector<std::string>& c) {
                         ++applies_;
                         if (c[0].rfind("bad", 0) == 0) {
                           return absl::InvalidArgumentError("a is bad");
                         }
                         taken_ = c[0] + "|" + c[1] + "|" + c[2];
                         return absl::OkStatus();
                       }};
    return std::make_unique<FileReloader>(std::vector<WatchedFiles>{files},
                                          [this](const std::string& what, bool ok) {
                                            results_.push_back(what + (ok ? ":ok" : ":error"));
                                          });
  }

  std::string dir_;
  int applies_ = 0;
  std::string taken_;
  std::vector<std::string> results_;
};

TEST_F(FileReloaderTest, LoadsEverySetAtStartWithoutCountingAReload) {
  auto reloader = Make();
  ASSERT_TRUE(reloader->LoadAll().ok());
  EXPECT_EQ(taken_, "a1||b1");
  EXPECT_TRUE(results_.empty());
}

TEST_F(FileReloaderTest, AppliesOnlyWhenTheContentsChange) {
  auto reloader = Make();
  ASSERT_TRUE(reloader->LoadAll().ok());
  reloader->CheckNow();
  EXPECT_EQ(applies_, 1);
  Write("b", "b2");
  reloader->CheckNow();
  EXPECT_EQ(taken_, "a1||b2");
  EXPECT_EQ(results_, std::vector<std::string>{"pair:ok"});
}

TEST_F(FileReloaderTest, RefusesBadContentsOnceAndKeepsTheOld) {
  auto reloader = Make();
  ASSERT_TRUE(reloader->LoadAll().ok());
  Write("a", "bad");
  reloader->CheckNow();
  reloader->CheckNow();
  EXPECT_EQ(taken_, "a1||b1");
  EXPECT_EQ(applies_, 2);  // start, and the bad contents once
  Write("a", "a2");
  reloader->CheckNow();
  EXPECT_EQ(taken_, "a2||b1");
  EXPECT_EQ(results_, (std::vector<std::string>{"pair:error", "pair:ok"}));
}

TEST_F(FileReloaderTest, AMissingFileKeepsTheOldUntilItIsBack) {
  auto reloader = Make();
  ASSERT_TRUE(reloader->LoadAll().ok());
  ASSERT_EQ(std::remove((dir_ + "/b").c_str()), 0);
  reloader->CheckNow();
  reloader->CheckNow();
  EXPECT_EQ(results_, std::vector<std::string>{"pair:error"});
  Write("b", "b3");
  reloader->CheckNow();
  EXPECT_EQ(taken_, "a1||b3");
}

TEST_F(FileReloaderTest, AnUnreadableFileFailsTheStart) {
  WatchedFiles files{
      "x", {dir_ + "/none"}, [](const std::vector<std::string>&) { return absl::OkStatus(); }};
  FileReloader reloader({files}, nullptr);
  EXPECT_EQ(reloader.LoadAll().message(), absl::StrCat("cannot read ", dir_, "/none"));
}

}  // namespace
}  // namespace txgate::reload
