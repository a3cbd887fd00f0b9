// permissionsPolicy: the steps' own permissions and their undos', each on the resource the
// step fixes or on all of them when a template decides; nothing twice.
#include "daemon/playbook/permissions.h"

#include <gtest/gtest.h>

#include "daemon/playbook/loader.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/test_env.h"

namespace firebreak::playbook {
namespace {

using core::Json;

core::ActionSpec spec(const std::string& name, std::vector<core::Permission> permissions,
                      const std::string& undo = "") {
  core::ActionSpec s = testing::fakeSpec(name, true, !undo.empty(), undo);
  s.params.push_back({"role", core::ParamType::kString, false, nullptr, "role", {}, true});
  s.params.push_back({"assume_role", core::ParamType::kStringMap, false, nullptr, "", {}});
  s.permissions = std::move(permissions);
  return s;
}

class PermissionsTest : public ::testing::Test {
 protected:
  PermissionsTest() {
    add(spec("t.revoke",
             {{"iam:GetRole", "arn:aws:iam::*:role/{role}"},
              {"iam:PutRolePolicy", "arn:aws:iam::*:role/{role}"}},
             "t.restore"));
    add(spec("t.restore", {{"iam:GetRole", "arn:aws:iam::*:role/{role}"},
                           {"iam:DeleteRolePolicy", "arn:aws:iam::*:role/{role}"}}));
    add(spec("t.describe", {{"ec2:DescribeInstances", ""}}));
    add(spec("t.note", {}));
  }
  void add(core::ActionSpec s) {
    ASSERT_TRUE(registry_.add(std::make_unique<testing::FakeProvider>(std::move(s))));
  }
  Json policyOf(const std::string& steps) {
    testing::writeFile(dir_.file("p.yaml"),
                       "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: p }\n"
                       "params:\n  role: { default: x }\nsteps:\n" + steps);
    auto report = loadPlaybooks({dir_.file("p.yaml")}, registry_);
    EXPECT_TRUE(report.errors.empty()) << (report.errors.empty() ? "" : report.errors[0].str());
    return permissionsPolicy(report.playbooks, registry_);
  }

  core::ProviderRegistry registry_;
  testing::TempDir dir_;
};

TEST_F(PermissionsTest, AFixedNameIsScopedAndTheUndoIsIncluded) {
  Json p = policyOf("  - { id: a, action: t.revoke, with: { role: web } }\n");
  EXPECT_EQ(p["Version"], "2012-10-17");
  EXPECT_EQ(p["Statement"], Json::parse(R"([{"Sid": "IamRole", "Effect": "Allow",
      "Action": ["iam:DeleteRolePolicy", "iam:GetRole", "iam:PutRolePolicy"],
      "Resource": "arn:aws:iam::*:role/web"}])"));
}

TEST_F(PermissionsTest, ATemplateGivesEveryResourceOfThatKind) {
  Json p = policyOf("  - { id: a, action: t.revoke, with: { role: \"{{ params.role }}\" } }\n");
  EXPECT_EQ(p["Statement"][0]["Resource"], "arn:aws:iam::*:role/*");
}

TEST_F(PermissionsTest, AnArnStandsForItself) {
  Json p = policyOf(
      "  - { id: a, action: t.revoke, with: { role: \"arn:aws:iam::1:role/team/web\" } }\n");
  EXPECT_EQ(p["Statement"][0]["Resource"], "arn:aws:iam::1:role/team/web");
}

TEST_F(PermissionsTest, SameResourcesShareAStatementAndNothingAppearsTwice) {
  Json p = policyOf(
      "  - { id: a, action: t.revoke, with: { role: web } }\n"
      "  - { id: b, action: t.revoke, with: { role: db } }\n"
      "  - { id: c, action: t.describe }\n"
      "  - { id: d, action: t.note }\n");
  EXPECT_EQ(p["Statement"], Json::parse(R"([
      {"Sid": "Any", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"},
      {"Sid": "IamRole", "Effect": "Allow",
       "Action": ["iam:DeleteRolePolicy", "iam:GetRole", "iam:PutRolePolicy"],
       "Resource": ["arn:aws:iam::*:role/db", "arn:aws:iam::*:role/web"]}])"));
}

TEST_F(PermissionsTest, AnExplicitUndoReplacesTheActionsOwn) {
  Json p = policyOf(
      "  - id: a\n    action: t.revoke\n    with: { role: web }\n"
      "    undo: { action: t.describe }\n");
  Json actions = Json::array();
  for (const auto& s : p["Statement"])
    for (const auto& a : s["Action"]) actions.push_back(a);
  EXPECT_EQ(actions, Json::parse(R"(["ec2:DescribeInstances", "iam:GetRole",
                                      "iam:PutRolePolicy"])"));
}

// A step in another account: the daemon needs sts:AssumeRole on that role, the role needs
// the step's permissions.
TEST_F(PermissionsTest, AStepThatAssumesARoleNeedsItsPermissionsThere) {
  const std::string steps =
      "  - { id: a, action: t.describe }\n"
      "  - id: b\n    action: t.revoke\n    with:\n      role: web\n"
      "      assume_role: { role_arn: \"arn:aws:iam::222:role/fb\" }\n"
      "  - id: c\n    action: t.describe\n"
      "    with: { assume_role: { role_arn: \"{{ params.role }}\" } }\n";
  Json daemon = policyOf(steps);
  EXPECT_EQ(daemon["Statement"], Json::parse(R"([
      {"Sid": "Any", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"},
      {"Sid": "IamRole", "Effect": "Allow", "Action": ["sts:AssumeRole"],
       "Resource": ["arn:aws:iam::*:role/*", "arn:aws:iam::222:role/fb"]}])"));
  testing::writeFile(dir_.file("p.yaml"),
                     "apiVersion: firebreak/v1\nkind: Playbook\nmetadata: { name: p }\n"
                     "params:\n  role: { default: x }\nsteps:\n" + steps);
  auto report = loadPlaybooks({dir_.file("p.yaml")}, registry_);
  ASSERT_TRUE(report.errors.empty()) << report.errors[0].str();
  Json other = permissionsPolicy(report.playbooks, registry_, "arn:aws:iam::222:role/fb");
  EXPECT_EQ(other["Statement"], Json::parse(R"([{"Sid": "IamRole", "Effect": "Allow",
      "Action": ["iam:DeleteRolePolicy", "iam:GetRole", "iam:PutRolePolicy"],
      "Resource": "arn:aws:iam::*:role/web"}])"));
}

TEST(PermissionResourceTest, FillsEveryPlaceholder) {
  EXPECT_EQ(permissionResource("arn:aws:s3:::{bucket}/{key}", Json{{"bucket", "b"}}),
            "arn:aws:s3:::b/*");
  EXPECT_EQ(permissionResource("*", Json::object()), "*");
  EXPECT_EQ(permissionResource("arn:aws:lambda:*:*:function:{function}",
                               Json{{"function", 7}}),
            "arn:aws:lambda:*:*:function:*");
}

}  // namespace
}  // namespace firebreak::playbook
