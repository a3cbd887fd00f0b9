// The pure pieces of the EC2 and S3 actions (ec2_actions.cpp, s3_actions.cpp): reading
// DescribeInstances and security-group answers, the query parameters that revoke exactly the
// rules a group has, tag specifications, and the S3 public access block document. No I/O, so
// that tests/actions/aws/ec2_s3_test.cpp checks them without AWS.
#pragma once

#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actions/aws/client.h"
#include "daemon/core/json.h"

namespace firebreak::actions::aws {

// "aws", "aws-cn" (cn-*), "aws-us-gov" (us-gov-*): the partition ARNs in `region` start with.
std::string partitionOf(std::string_view region);
// "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc".
std::string ec2Arn(std::string_view region, std::string_view owner, std::string_view type,
                   std::string_view id);

struct NetworkInterfaceState {
  std::string id;
  std::string vpc_id;
  int device_index = 0;
  std::vector<std::string> groups;  // security group ids, in the order EC2 lists them
};

struct VolumeState {
  std::string id;
  std::string device;  // "/dev/xvda"
};

struct InstanceState {
  std::string id;
  std::string arn;
  std::string owner;   // the reservation's account
  std::string vpc_id;  // the instance's (its primary interface's) VPC
  std::string state;   // running, stopped, ...
  std::vector<NetworkInterfaceState> interfaces;  // by device index
  std::vector<VolumeState> volumes;               // EBS volumes of the block device mapping
};

// The instance `id` in a DescribeInstances answer (its document element), ARN built for
// `region`; nullopt when the answer does not hold it.
std::optional<InstanceState> parseInstance(pugi::xml_node root, std::string_view id,
                                           std::string_view region);

// The rules under <ipPermissions> or <ipPermissionsEgress> of a DescribeSecurityGroups item,
// as the IpPermissions.N.* parameters of Revoke...Ingress/Egress that remove exactly them
// (protocol, ports, IPv4 and IPv6 ranges, prefix lists, referenced groups). Empty: no rules.
QueryParams ipPermissionsParams(pugi::xml_node permissions);
// How many rules (<item>s) `permissions` holds.
size_t ruleCount(pugi::xml_node permissions);

// TagSpecification.1.ResourceType=<type>, TagSpecification.1.Tag.N.Key/Value. A tag without a
// value (the incident of a manual run) is left out: it would say nothing.
QueryParams tagSpecification(std::string_view resource_type,
                             const std::vector<std::pair<std::string, std::string>>& tags);
// Filter.N.Name/Filter.N.Value.1, numbered from `first`.
QueryParams filterParams(const std::vector<std::pair<std::string, std::string>>& filters,
                         int first = 1);

// The same security groups, in any order.
bool sameGroups(const std::vector<std::string>& a, const std::vector<std::string>& b);
// "sg-1, sg-2", or "none".
std::string groupsText(const std::vector<std::string>& groups);
// An isolation group name EC2 accepts: 1 to 255 characters, not starting with "sg-".
bool validGroupName(std::string_view name);

// S3's four public access block flags, in the order of its API.
inline constexpr const char* kPublicAccessFlags[] = {"BlockPublicAcls", "IgnorePublicAcls",
                                                     "BlockPublicPolicy",
                                                     "RestrictPublicBuckets"};
// A GetPublicAccessBlock answer's <PublicAccessBlockConfiguration> as {flag: bool} for all
// four flags (a flag S3 leaves out is false, as S3 treats it).
core::Json parsePublicAccessBlock(pugi::xml_node configuration);
// The PutPublicAccessBlock body for `config` ({flag: bool}; a missing flag is false).
std::string publicAccessBlockXml(const core::Json& config);
// "BlockPublicAcls=true, IgnorePublicAcls=false, ...", or "none" for null.
std::string publicAccessBlockText(const core::Json& config);
// "arn:aws:s3:::name" (or "arn:aws:s3:::name/key") -> "name"; a plain name is returned as it is.
std::string bucketNameOf(std::string_view bucket);

}  // namespace firebreak::actions::aws
