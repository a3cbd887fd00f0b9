// aws.ec2.isolate_instance and its undo, aws.ec2.restore_instance_groups: every network
// interface of an instance moved to an isolation security group with no rules at all, each
// interface's groups before recorded so that the undo puts back exactly those; and
// aws.ec2.snapshot_volumes, forensic snapshots of every attached EBS volume, tagged so that a
// retry of the step finds them instead of taking a second set.
#include <algorithm>
#include <map>
#include <set>

#include "actions/aws/context.h"
#include "actions/aws/ec2_s3.h"

namespace firebreak::actions::aws {

// ---- pure pieces (ec2_s3.h) ----

std::string partitionOf(std::string_view region) {
  if (region.rfind("cn-", 0) == 0) return "aws-cn";
  if (region.rfind("us-gov-", 0) == 0) return "aws-us-gov";
  return "aws";
}

std::string ec2Arn(std::string_view region, std::string_view owner, std::string_view type,
                   std::string_view id) {
  return "arn:" + partitionOf(region) + ":ec2:" + std::string(region) + ":" + std::string(owner) +
         ":" + std::string(type) + "/" + std::string(id);
}

std::optional<InstanceState> parseInstance(pugi::xml_node root, std::string_view id,
                                           std::string_view region) {
  for (pugi::xml_node reservation : root.child("reservationSet").children("item")) {
    for (pugi::xml_node item : reservation.child("instancesSet").children("item")) {
      if (id != item.child_value("instanceId")) continue;
      InstanceState s;
      s.id = std::string(id);
      s.owner = reservation.child_value("ownerId");
      s.vpc_id = item.child_value("vpcId");
      s.state = item.child("instanceState").child_value("name");
      for (pugi::xml_node ni : item.child("networkInterfaceSet").children("item")) {
        NetworkInterfaceState n;
        n.id = ni.child_value("networkInterfaceId");
        n.vpc_id = ni.child_value("vpcId");
        n.device_index = ni.child("attachment").child("deviceIndex").text().as_int(0);
        for (pugi::xml_node g : ni.child("groupSet").children("item"))
          n.groups.emplace_back(g.child_value("groupId"));
        if (n.vpc_id.empty()) n.vpc_id = s.vpc_id;
        if (!n.id.empty()) s.interfaces.push_back(std::move(n));
      }
      std::stable_sort(s.interfaces.begin(), s.interfaces.end(),
                       [](const auto& a, const auto& b) { return a.device_index < b.device_index; });
      if (s.vpc_id.empty() && !s.interfaces.empty()) s.vpc_id = s.interfaces.front().vpc_id;
      for (pugi::xml_node bd : item.child("blockDeviceMapping").children("item")) {
        std::string volume = bd.child("ebs").child_value("volumeId");
        if (!volume.empty()) s.volumes.push_back({volume, bd.child_value("deviceName")});
      }
      s.arn = ec2Arn(region, s.owner, "instance", s.id);
      return s;
    }
  }
  return std::nullopt;
}

QueryParams ipPermissionsParams(pugi::xml_node permissions) {
  QueryParams out;
  int n = 0;
  for (pugi::xml_node rule : permissions.children("item")) {
    const std::string p = "IpPermissions." + std::to_string(++n) + ".";
    out.emplace_back(p + "IpProtocol", rule.child_value("ipProtocol"));
    // -1 (every protocol) has no ports; ICMP's are type and code.
    for (auto [xml, param] : {std::pair{"fromPort", "FromPort"}, std::pair{"toPort", "ToPort"}})
      if (rule.child(xml)) out.emplace_back(p + param, rule.child_value(xml));
    int m = 0;
    for (pugi::xml_node r : rule.child("ipRanges").children("item"))
      out.emplace_back(p + "IpRanges." + std::to_string(++m) + ".CidrIp", r.child_value("cidrIp"));
    m = 0;
    for (pugi::xml_node r : rule.child("ipv6Ranges").children("item"))
      out.emplace_back(p + "Ipv6Ranges." + std::to_string(++m) + ".CidrIpv6",
                       r.child_value("cidrIpv6"));
    m = 0;
    for (pugi::xml_node r : rule.child("prefixListIds").children("item"))
      out.emplace_back(p + "PrefixListIds." + std::to_string(++m) + ".PrefixListId",
                       r.child_value("prefixListId"));
    m = 0;
    for (pugi::xml_node r : rule.child("groups").children("item")) {
      const std::string g = p + "Groups." + std::to_string(++m) + ".";
      out.emplace_back(g + "GroupId", r.child_value("groupId"));
      // Another account's group (peering) is named with its owner.
      if (*r.child_value("userId")) out.emplace_back(g + "UserId", r.child_value("userId"));
    }
  }
  return out;
}

size_t ruleCount(pugi::xml_node permissions) {
  size_t n = 0;
  for ([[maybe_unused]] pugi::xml_node rule : permissions.children("item")) ++n;
  return n;
}

QueryParams tagSpecification(std::string_view resource_type,
                             const std::vector<std::pair<std::string, std::string>>& tags) {
  QueryParams out{{"TagSpecification.1.ResourceType", std::string(resource_type)}};
  int n = 0;
  for (const auto& [key, value] : tags) {
    if (value.empty()) continue;
    const std::string p = "TagSpecification.1.Tag." + std::to_string(++n) + ".";
    out.emplace_back(p + "Key", key);
    out.emplace_back(p + "Value", value);
  }
  return out;
}

QueryParams filterParams(const std::vector<std::pair<std::string, std::string>>& filters,
                         int first) {
  QueryParams out;
  int n = first;
  for (const auto& [name, value] : filters) {
    const std::string p = "Filter." + std::to_string(n++) + ".";
    out.emplace_back(p + "Name", name);
    out.emplace_back(p + "Value.1", value);
  }
  return out;
}

bool sameGroups(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::set<std::string>(a.begin(), a.end()) == std::set<std::string>(b.begin(), b.end());
}

std::string groupsText(const std::vector<std::string>& groups) {
  std::string out;
  for (const auto& g : groups) out += (out.empty() ? "" : ", ") + g;
  return out.empty() ? "none" : out;
}

bool validGroupName(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.rfind("sg-", 0) != 0;
}

namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kIsolate = "aws.ec2.isolate_instance";
constexpr const char* kRestoreGroups = "aws.ec2.restore_instance_groups";
constexpr const char* kSnapshot = "aws.ec2.snapshot_volumes";
constexpr const char* kEc2Version = "2016-11-15";
constexpr const char* kIsolateJournal = "ec2-isolate";
constexpr const char* kDefaultGroupName = "firebreak-isolation";
// The tag that marks a group this action made: only such a group is emptied of rules when
// found with some (someone else's group of that name is refused instead).
constexpr const char* kIsolationTag = "firebreak:isolation";

constexpr const char* kAnyInterface = "arn:aws:ec2:*:*:network-interface/*";
constexpr const char* kAnyGroup = "arn:aws:ec2:*:*:security-group/*";
constexpr const char* kAnyVpc = "arn:aws:ec2:*:*:vpc/*";
constexpr const char* kAnyVolume = "arn:aws:ec2:*:*:volume/*";
constexpr const char* kAnySnapshot = "arn:aws:ec2:*::snapshot/*";

std::vector<std::string> stringsOf(const Json& list) {
  std::vector<std::string> out;
  if (list.is_array())
    for (const auto& v : list)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

AwsResult<InstanceState> readInstance(Client& client, const std::string& id,
                                      const CallOptions& options) {
  auto got = client.query("ec2", "DescribeInstances", kEc2Version, {{"InstanceId.1", id}}, options);
  if (!got) return awsFail(std::move(got.error()));
  auto state = parseInstance(got->root(), id, client.config().region);
  if (!state)
    return awsFail(makeError(AwsError::Source::kService, "InvalidInstanceID.NotFound",
                             "DescribeInstances did not return instance " + id, false));
  return std::move(*state);
}

// A protected network interface of the instance (by id or ARN), as the step's end.
std::optional<ActionResult> protectedInterface(const Context& ctx, const ActionRequest& request,
                                               const char* action, const InstanceState& instance,
                                               const std::string& region) {
  for (const auto& ni : instance.interfaces) {
    const std::string arn = ec2Arn(region, instance.owner, "network-interface", ni.id);
    if (auto pattern = ctx.protectedBy({ni.id, arn}))
      return protectedFailure(request, action, arn, *pattern);
  }
  return std::nullopt;
}

AwsStatus setGroups(Client& client, const std::string& interface,
                    const std::vector<std::string>& groups, const CallOptions& options) {
  QueryParams params{{"NetworkInterfaceId", interface}};
  for (size_t i = 0; i < groups.size(); ++i)
    params.emplace_back("SecurityGroupId." + std::to_string(i + 1), groups[i]);
  auto r = client.query("ec2", "ModifyNetworkInterfaceAttribute", kEc2Version, params, options);
  if (!r) return awsFail(std::move(r.error()));
  return {};
}

struct GroupState {
  std::string id;
  bool ours = false;  // tagged firebreak:isolation=true
  size_t ingress = 0, egress = 0;
  QueryParams revoke_ingress, revoke_egress;
};

GroupState groupOf(pugi::xml_node item) {
  GroupState g;
  g.id = item.child_value("groupId");
  for (pugi::xml_node t : item.child("tagSet").children("item"))
    if (std::string_view(t.child_value("key")) == kIsolationTag &&
        std::string_view(t.child_value("value")) == "true")
      g.ours = true;
  g.ingress = ruleCount(item.child("ipPermissions"));
  g.egress = ruleCount(item.child("ipPermissionsEgress"));
  g.revoke_ingress = ipPermissionsParams(item.child("ipPermissions"));
  g.revoke_egress = ipPermissionsParams(item.child("ipPermissionsEgress"));
  return g;
}

// The group named `name` in `vpc`, or nullopt when there is none.
AwsResult<std::optional<GroupState>> findGroup(Client& client, const std::string& vpc,
                                               const std::string& name,
                                               const CallOptions& options) {
  auto got = client.query("ec2", "DescribeSecurityGroups", kEc2Version,
                          filterParams({{"vpc-id", vpc}, {"group-name", name}}), options);
  if (!got) return awsFail(std::move(got.error()));
  pugi::xml_node item = got->root().child("securityGroupInfo").child("item");
  if (!item) return std::optional<GroupState>();
  return std::optional<GroupState>(groupOf(item));
}

// Revokes every rule `group` has, both directions.
AwsStatus emptyGroup(Client& client, const GroupState& group, const CallOptions& options) {
  for (auto [operation, rules] : {std::pair{"RevokeSecurityGroupIngress", &group.revoke_ingress},
                                  std::pair{"RevokeSecurityGroupEgress", &group.revoke_egress}}) {
    if (rules->empty()) continue;
    QueryParams params{{"GroupId", group.id}};
    params.insert(params.end(), rules->begin(), rules->end());
    auto r = client.query("ec2", operation, kEc2Version, params, options);
    if (!r) return awsFail(std::move(r.error()).context("emptying security group " + group.id));
  }
  return {};
}

// Creates the isolation group in `vpc`, tagged, then revokes the allow-all egress rule EC2
// gives every new group: it has no rule at all. Returns its id.
AwsResult<std::string> createIsolationGroup(Client& client, const std::string& vpc,
                                            const std::string& name,
                                            const std::string& incident,
                                            const CallOptions& options) {
  QueryParams params{{"GroupName", name},
                     {"GroupDescription",
                      "Firebreak isolation: no inbound and no outbound rules"},
                     {"VpcId", vpc}};
  auto tags = tagSpecification("security-group", {{"Name", name},
                                                   {kIsolationTag, "true"},
                                                   {"firebreak:incident", incident}});
  params.insert(params.end(), tags.begin(), tags.end());
  std::string id;
  auto created = client.query("ec2", "CreateSecurityGroup", kEc2Version, params, options);
  if (created) {
    id = created->root().child_value("groupId");
  } else if (created.error().code != "InvalidGroup.Duplicate") {
    return awsFail(std::move(created.error()));
  }
  // Read back what it has (a concurrent step may have made it first: then that one).
  QueryParams read = id.empty() ? filterParams({{"vpc-id", vpc}, {"group-name", name}})
                                : QueryParams{{"GroupId.1", id}};
  auto got = client.query("ec2", "DescribeSecurityGroups", kEc2Version, read, options);
  if (!got) return awsFail(std::move(got.error()).context("reading back security group " + name));
  pugi::xml_node item = got->root().child("securityGroupInfo").child("item");
  if (!item)
    // Not visible yet (EC2 is eventually consistent): the retry finds it, tagged, and empties it.
    return awsFail(makeError(AwsError::Source::kService, "InvalidGroup.NotFound",
                             "security group " + name + " in " + vpc +
                                 " was created but is not visible yet",
                             true));
  GroupState group = groupOf(item);
  if (!group.ours && (group.ingress || group.egress))
    return awsFail(makeError(AwsError::Source::kService, "IsolationGroupHasRules",
                             "security group " + group.id + " (" + name + ") in " + vpc +
                                 " was made by someone else and has rules",
                             false));
  if (auto s = emptyGroup(client, group, options); !s) return awsFail(std::move(s.error()));
  return group.id;
}

class IsolateInstanceAction final : public BlockingAction {
 public:
  explicit IsolateInstanceAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kIsolate;
    spec_.summary =
        "Move every network interface of an EC2 instance to a security group with no rules, "
        "recording each interface's groups before";
    spec_.params = {
        {"instance", ParamType::kString, true, nullptr, "the instance id (i-...)", {}, true},
        {"isolation_group_name", ParamType::kString, false, kDefaultGroupName,
         "the isolation security group, found or created in the instance's VPC", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kRestoreGroups;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {{"ec2:DescribeInstances", ""},
                         {"ec2:DescribeSecurityGroups", ""},
                         {"ec2:CreateSecurityGroup", kAnyVpc},
                         {"ec2:CreateSecurityGroup", kAnyGroup},
                         {"ec2:CreateTags", kAnyGroup},
                         {"ec2:RevokeSecurityGroupEgress", kAnyGroup},
                         {"ec2:RevokeSecurityGroupIngress", kAnyGroup},
                         {"ec2:ModifyNetworkInterfaceAttribute", kAnyInterface},
                         {"ec2:ModifyNetworkInterfaceAttribute", kAnyGroup}};
    spec_.outputs = {"instance_id",       "instance_arn",       "isolation_group_name",
                     "isolation_group_id", "isolation_groups", "network_interfaces"};
  }

  core::Status validate(const Json& params) const override {
    auto it = params.find("isolation_group_name");
    if (it != params.end() && it->is_string() && !validGroupName(it->get<std::string>()))
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "'isolation_group_name' must be 1 to 255 characters, not starting "
                        "with 'sg-'");
    return {};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    const std::string id = paramString(request.params, "instance");
    std::string name = paramString(request.params, "isolation_group_name");
    if (name.empty()) name = kDefaultGroupName;
    if (id.empty())
      return ActionResult::permanent(describe(request, kIsolate, "'instance' is required"));
    if (!validGroupName(name))
      return ActionResult::permanent(
          describe(request, kIsolate, "'isolation_group_name' " + name + " is not a valid name"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kIsolate, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    const std::string region = (*client)->config().region;
    auto live = liveResource(*ctx_, request, kIsolate, "instance", id,
                             [&] { return readInstance(**client, id, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const InstanceState& instance = std::get<InstanceState>(live);
    if (auto refused = protectedInterface(*ctx_, request, kIsolate, instance, region))
      return std::move(*refused);
    if (instance.interfaces.empty())
      return ActionResult::permanent(describe(
          request, kIsolate,
          "instance " + instance.arn + " (" + instance.state +
              ") has no network interface to isolate; nothing was changed"));

    Json interfaces = Json::array();
    for (const auto& ni : instance.interfaces)
      interfaces.push_back(Json{{"network_interface_id", ni.id},
                                {"vpc_id", ni.vpc_id},
                                {"previous_groups", ni.groups}});
    Json output{{"instance_id", instance.id},       {"instance_arn", instance.arn},
                {"isolation_group_name", name},     {"isolation_group_id", ""},
                {"isolation_groups", Json::object()}, {"network_interfaces", interfaces}};

    // One isolation group per VPC the interfaces are in (an interface takes only groups of
    // its own VPC); usually the instance's one.
    std::vector<std::string> vpcs;
    for (const auto& ni : instance.interfaces)
      if (std::find(vpcs.begin(), vpcs.end(), ni.vpc_id) == vpcs.end()) vpcs.push_back(ni.vpc_id);
    std::map<std::string, std::optional<GroupState>> found;
    for (const auto& vpc : vpcs) {
      auto g = findGroup(**client, vpc, name, options);
      if (!g)
        return failed(request, kIsolate, g.error(),
                      "looking for security group " + name + " in " + vpc);
      // Someone else's group of that name, with rules, would not isolate: never edit it.
      if (*g && !(*g)->ours && ((*g)->ingress || (*g)->egress))
        return ActionResult::permanent(describe(
            request, kIsolate,
            "security group " + (*g)->id + " (" + name + ") in " + vpc + " has " +
                std::to_string((*g)->ingress + (*g)->egress) +
                " rule(s) and was not made by firebreak, so it would not isolate; give another "
                "isolation_group_name. Nothing was changed"));
      found[vpc] = *g;
    }

    if (plan) {
      std::string text;
      for (const auto& vpc : vpcs) {
        const auto& g = found[vpc];
        text += text.empty() ? "would " : "; ";
        if (!g) {
          text += "create security group " + name + " in " + vpc + " with no rules";
        } else {
          text += "use security group " + g->id + " (" + name + ") in " + vpc;
          output["isolation_groups"][vpc] = g->id;
          if (g->ingress || g->egress)
            text += ", revoking its " + std::to_string(g->ingress + g->egress) + " rule(s)";
        }
      }
      for (const auto& ni : instance.interfaces) {
        const auto& g = found[ni.vpc_id];
        if (g && ni.groups == std::vector<std::string>{g->id}) {
          text += "; " + ni.id + " is already isolated";
          continue;
        }
        text += "; replace the groups of " + ni.id + " (" + groupsText(ni.groups) + ") with " +
                (g ? g->id : name);
      }
      output["plan"] = "instance " + instance.arn + ": " + text;
      output["isolation_group_id"] = output["isolation_groups"].value(instance.vpc_id, "");
      ActionResult r = ActionResult::success(output, describe(request, kIsolate, "planned"));
      r.resources = static_cast<int64_t>(instance.interfaces.size());
      return r;
    }

    // A re-execution (same key) keeps the groups the first one found, not the isolation group
    // it put there; an interface attached since is recorded as it is now.
    if (auto before = ctx_->recalled(kIsolateJournal, request.idempotency_key)) {
      for (auto& ni : output["network_interfaces"])
        for (const auto& was : before->value("network_interfaces", Json::array()))
          if (was.value("network_interface_id", "") ==
              ni["network_interface_id"].get<std::string>())
            ni["previous_groups"] = was.value("previous_groups", Json::array());
    } else if (!ctx_->remember(kIsolateJournal, request.idempotency_key, output)) {
      return ActionResult::retryable(describe(
          request, kIsolate, "cannot record the groups before the change in the data dir"));
    }

    std::string created;
    for (const auto& vpc : vpcs) {
      auto& g = found[vpc];
      std::string group_id;
      if (!g) {
        auto made = createIsolationGroup(**client, vpc, name, request.incident_id, options);
        if (!made)
          return failed(request, kIsolate, made.error(),
                        "creating isolation security group " + name + " in " + vpc, output);
        group_id = *made;
        created += (created.empty() ? "" : ", ") + group_id;
      } else {
        if (g->ingress || g->egress) {
          if (auto s = emptyGroup(**client, *g, options); !s)
            return failed(request, kIsolate, s.error(),
                          "revoking the rules of isolation group " + g->id, output);
        }
        group_id = g->id;
      }
      output["isolation_groups"][vpc] = group_id;
    }
    output["isolation_group_id"] = output["isolation_groups"].value(instance.vpc_id, "");

    for (const auto& ni : instance.interfaces) {
      const std::string group = output["isolation_groups"][ni.vpc_id].get<std::string>();
      if (ni.groups == std::vector<std::string>{group}) continue;
      if (auto s = setGroups(**client, ni.id, {group}, options); !s)
        return failed(request, kIsolate, s.error(),
                      "replacing the security groups of " + ni.id + " of " + instance.id +
                          " with " + group,
                      output);
    }
    return ActionResult::success(
        output,
        describe(request, kIsolate,
                 std::to_string(instance.interfaces.size()) + " network interface(s) of " +
                     instance.arn + " are in isolation group " +
                     output["isolation_group_id"].get<std::string>() +
                     (created.empty() ? "" : " (created " + created + ")")));
  }

};

class RestoreInstanceGroupsAction final : public BlockingAction {
 public:
  explicit RestoreInstanceGroupsAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kRestoreGroups;
    spec_.summary =
        "Undo of aws.ec2.isolate_instance: put back each network interface's recorded "
        "security groups";
    spec_.params = {
        {"instance", ParamType::kString, false, nullptr,
         "the instance; default: the one the undone step isolated", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    spec_.permissions = {{"ec2:DescribeInstances", ""},
                         {"ec2:ModifyNetworkInterfaceAttribute", kAnyInterface},
                         {"ec2:ModifyNetworkInterfaceAttribute", kAnyGroup}};
    spec_.outputs = {"instance_id", "instance_arn", "restored", "skipped"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    auto recorded = ctx_->undoneState(request, "network_interfaces");
    if (!recorded || !(*recorded)["network_interfaces"].is_array())
      return ActionResult::permanent(describe(
          request, kRestoreGroups,
          "no recorded security groups to restore: it undoes a step of " +
              std::string(kIsolate)));
    std::string id = paramString(request.params, "instance");
    if (id.empty()) id = recorded->value("instance_id", "");
    if (id.empty())
      return ActionResult::permanent(describe(request, kRestoreGroups, "no instance to restore"));
    auto client = ctx_->client(request);
    if (!client)
      return failed(request, kRestoreGroups, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    const std::string region = (*client)->config().region;
    auto live = liveResource(*ctx_, request, kRestoreGroups, "instance", id,
                             [&] { return readInstance(**client, id, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const InstanceState& instance = std::get<InstanceState>(live);
    if (auto refused = protectedInterface(*ctx_, request, kRestoreGroups, instance, region))
      return std::move(*refused);

    Json output{{"instance_id", instance.id}, {"instance_arn", instance.arn},
                {"restored", Json::array()}, {"skipped", Json::array()}};
    std::string changes;
    for (const auto& was : (*recorded)["network_interfaces"]) {
      const std::string eni = was.value("network_interface_id", "");
      const std::vector<std::string> groups = stringsOf(was.value("previous_groups", Json()));
      if (eni.empty() || groups.empty()) continue;
      auto now = std::find_if(instance.interfaces.begin(), instance.interfaces.end(),
                              [&](const auto& ni) { return ni.id == eni; });
      // Detached (or deleted) since: not this instance's any more, so not ours to change.
      if (now == instance.interfaces.end()) {
        output["skipped"].push_back(eni);
        continue;
      }
      if (sameGroups(now->groups, groups)) continue;
      changes += (changes.empty() ? "" : "; ") + eni + " from " + groupsText(now->groups) +
                 " to " + groupsText(groups);
      if (!plan) {
        if (auto s = setGroups(**client, eni, groups, options); !s)
          return failed(request, kRestoreGroups, s.error(),
                        "putting back the security groups of " + eni + " of " + instance.id,
                        output);
      }
      output["restored"].push_back(Json{{"network_interface_id", eni}, {"groups", groups}});
    }
    std::string skipped;
    for (const auto& eni : output["skipped"])
      skipped += (skipped.empty() ? "" : ", ") + eni.get<std::string>();
    if (!skipped.empty()) skipped = " (no longer attached, left alone: " + skipped + ")";
    if (plan) {
      output["plan"] = (changes.empty() ? "nothing would change on instance " + instance.arn
                                        : "would set the groups of " + changes) +
                       skipped;
      return ActionResult::success(output, describe(request, kRestoreGroups, "planned"));
    }
    return ActionResult::success(
        output, describe(request, kRestoreGroups,
                         (changes.empty() ? "security groups of " + instance.arn +
                                                " already as recorded"
                                          : "set the groups of " + changes) +
                             skipped));
  }

};

class SnapshotVolumesAction final : public BlockingAction {
 public:
  explicit SnapshotVolumesAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kSnapshot;
    spec_.summary =
        "Snapshot every EBS volume attached to an EC2 instance, for forensics (tagged with "
        "the incident; kept, no undo)";
    spec_.params = {
        {"instance", ParamType::kString, true, nullptr, "the instance id (i-...)", {}, true},
        {"description", ParamType::kString, false, nullptr,
         "the snapshots' description; default: names the incident, instance and volume", {}},
    };
    spec_.idempotent = true;
    spec_.destructive = false;
    spec_.phase = core::Phase::kObserve;
    spec_.permissions = {{"ec2:DescribeInstances", ""},
                         {"ec2:DescribeSnapshots", ""},
                         {"ec2:CreateSnapshot", kAnyVolume},
                         {"ec2:CreateSnapshot", kAnySnapshot},
                         {"ec2:CreateTags", kAnySnapshot}};
    spec_.outputs = {"instance_id", "instance_arn", "snapshots", "created"};
  }

  core::Status validate(const Json& params) const override {
    auto it = params.find("description");
    if (it != params.end() && it->is_string() && it->get<std::string>().size() > 255)
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "'description' must be at most 255 characters (EC2's limit)");
    return {};
  }

 private:
  // The step's tag value: its idempotency key, the same across retries and resumes; EC2 tag
  // values stop at 256 characters.
  static std::string stepTag(const ActionRequest& request) {
    std::string key = request.idempotency_key.empty()
                          ? request.run_id + ":" + request.step_id
                          : request.idempotency_key;
    return key.size() <= 256 ? key : sha256Hex(key);
  }

  // Snapshots this step already took, by volume.
  static AwsResult<std::map<std::string, std::string>> taken(Client& client,
                                                             const std::string& step,
                                                             const CallOptions& options) {
    std::map<std::string, std::string> out;
    std::string token;
    do {
      QueryParams params{{"Owner.1", "self"}};
      auto filters = filterParams({{"tag:firebreak:step", step}});
      params.insert(params.end(), filters.begin(), filters.end());
      if (!token.empty()) params.emplace_back("NextToken", token);
      auto got = client.query("ec2", "DescribeSnapshots", kEc2Version, params, options);
      if (!got) return awsFail(std::move(got.error()));
      for (pugi::xml_node s : got->root().child("snapshotSet").children("item")) {
        std::string volume = s.child_value("volumeId");
        for (pugi::xml_node t : s.child("tagSet").children("item"))
          if (std::string_view(t.child_value("key")) == "firebreak:volume")
            volume = t.child_value("value");
        out.emplace(volume, s.child_value("snapshotId"));
      }
      token = got->root().child_value("nextToken");
    } while (!token.empty());
    return out;
  }

  ActionResult act(const ActionRequest& request, bool plan) override {
    const std::string id = paramString(request.params, "instance");
    if (id.empty())
      return ActionResult::permanent(describe(request, kSnapshot, "'instance' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kSnapshot, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kSnapshot, "instance", id,
                             [&] { return readInstance(**client, id, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const InstanceState& instance = std::get<InstanceState>(live);
    const std::string step = stepTag(request);
    auto existing = taken(**client, step, options);
    if (!existing)
      return failed(request, kSnapshot, existing.error(),
                    "looking for the snapshots this step took of " + instance.id);

    Json output{{"instance_id", instance.id}, {"instance_arn", instance.arn},
                {"snapshots", Json::array()}, {"created", Json::array()}};
    std::string text, kept;
    for (const auto& v : instance.volumes) {
      auto done = existing->find(v.id);
      Json entry{{"volume_id", v.id}, {"device", v.device}, {"snapshot_id", ""}};
      if (done != existing->end()) {
        entry["snapshot_id"] = done->second;
        kept += (kept.empty() ? "" : ", ") + v.id + ": " + done->second;
      } else if (plan) {
        text += (text.empty() ? "" : ", ") + v.id + " (" + v.device + ")";
      } else {
        std::string description = paramString(request.params, "description");
        if (description.empty())
          description = "firebreak forensic snapshot of " + v.id + " (" + v.device + ") of " +
                        instance.id +
                        (request.incident_id.empty() ? "" : ", incident " + request.incident_id);
        QueryParams params{{"VolumeId", v.id}, {"Description", description.substr(0, 255)}};
        auto tags = tagSpecification("snapshot", {{"firebreak:incident", request.incident_id},
                                                  {"firebreak:step", step},
                                                  {"firebreak:instance", instance.id},
                                                  {"firebreak:volume", v.id}});
        params.insert(params.end(), tags.begin(), tags.end());
        auto made = (*client)->query("ec2", "CreateSnapshot", kEc2Version, params, options);
        if (!made)
          return failed(request, kSnapshot, made.error(),
                        "snapshotting " + v.id + " of " + instance.id, output);
        entry["snapshot_id"] = made->root().child_value("snapshotId");
        output["created"].push_back(entry["snapshot_id"]);
      }
      output["snapshots"].push_back(std::move(entry));
    }
    if (!kept.empty()) kept = "; already taken by this step: " + kept;
    if (plan) {
      output["plan"] = (instance.volumes.empty()
                            ? "instance " + instance.arn + " has no EBS volume: nothing to snapshot"
                        : text.empty() ? "every volume has this step's snapshot: none would be taken"
                                       : "would snapshot " + text + " of " + instance.arn +
                                             ", tagged firebreak:step=" + step) +
                       kept;
      ActionResult r = ActionResult::success(output, describe(request, kSnapshot, "planned"));
      r.resources = static_cast<int64_t>(instance.volumes.size());
      return r;
    }
    return ActionResult::success(
        output, describe(request, kSnapshot,
                         std::to_string(output["created"].size()) + " snapshot(s) started of " +
                             std::to_string(instance.volumes.size()) + " volume(s) of " +
                             instance.arn + kept));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeIsolateInstanceAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<IsolateInstanceAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeRestoreInstanceGroupsAction(
    std::shared_ptr<Context> ctx) {
  return std::make_unique<RestoreInstanceGroupsAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeSnapshotVolumesAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<SnapshotVolumesAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
