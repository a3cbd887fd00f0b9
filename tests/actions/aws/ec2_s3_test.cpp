// The EC2 and S3 actions' pure pieces: reading DescribeInstances and security groups as EC2
// answers them, the parameters that revoke exactly a group's rules, tags and filters, and the
// S3 public access block document.
#include "actions/aws/ec2_s3.h"

#include <gtest/gtest.h>

#include <memory>

namespace firebreak::actions::aws {
namespace {

using core::Json;

// A document held by pointer: pugi::xml_document cannot be copied.
std::unique_ptr<pugi::xml_document> parse(const char* text) {
  auto doc = std::make_unique<pugi::xml_document>();
  EXPECT_TRUE(doc->load_string(text));
  return doc;
}

// Shaped as EC2 answers (abridged): two reservations, the second holding the instance with
// two interfaces listed out of device order and an instance-store device without a volume.
constexpr const char* kDescribeInstances = R"(<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <reservationSet>
    <item><ownerId>111111111111</ownerId><instancesSet><item>
      <instanceId>i-other</instanceId><vpcId>vpc-x</vpcId>
    </item></instancesSet></item>
    <item><ownerId>123456789012</ownerId><instancesSet><item>
      <instanceId>i-0abc</instanceId>
      <instanceState><code>16</code><name>running</name></instanceState>
      <vpcId>vpc-1</vpcId>
      <blockDeviceMapping>
        <item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-root</volumeId></ebs></item>
        <item><deviceName>/dev/sdb</deviceName></item>
        <item><deviceName>/dev/sdf</deviceName><ebs><volumeId>vol-data</volumeId></ebs></item>
      </blockDeviceMapping>
      <networkInterfaceSet>
        <item><networkInterfaceId>eni-second</networkInterfaceId><vpcId>vpc-1</vpcId>
          <attachment><deviceIndex>1</deviceIndex></attachment>
          <groupSet><item><groupId>sg-c</groupId><groupName>c</groupName></item></groupSet>
        </item>
        <item><networkInterfaceId>eni-primary</networkInterfaceId><vpcId>vpc-1</vpcId>
          <attachment><deviceIndex>0</deviceIndex></attachment>
          <groupSet><item><groupId>sg-a</groupId></item><item><groupId>sg-b</groupId></item></groupSet>
        </item>
      </networkInterfaceSet>
    </item></instancesSet></item>
  </reservationSet>
</DescribeInstancesResponse>)";

TEST(Ec2Instance, ReadsInterfacesGroupsAndVolumes) {
  auto doc = parse(kDescribeInstances);
  auto s = parseInstance(doc->document_element(), "i-0abc", "eu-west-1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->arn, "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc");
  EXPECT_EQ(s->owner, "123456789012");
  EXPECT_EQ(s->vpc_id, "vpc-1");
  EXPECT_EQ(s->state, "running");
  ASSERT_EQ(s->interfaces.size(), 2u);
  // By device index: the primary first.
  EXPECT_EQ(s->interfaces[0].id, "eni-primary");
  EXPECT_EQ(s->interfaces[0].groups, (std::vector<std::string>{"sg-a", "sg-b"}));
  EXPECT_EQ(s->interfaces[1].id, "eni-second");
  EXPECT_EQ(s->interfaces[1].device_index, 1);
  EXPECT_EQ(s->interfaces[1].groups, (std::vector<std::string>{"sg-c"}));
  // EBS volumes only: the instance-store device has none.
  ASSERT_EQ(s->volumes.size(), 2u);
  EXPECT_EQ(s->volumes[0].id, "vol-root");
  EXPECT_EQ(s->volumes[0].device, "/dev/xvda");
  EXPECT_EQ(s->volumes[1].id, "vol-data");
}

TEST(Ec2Instance, AnotherIdIsNotThere) {
  auto doc = parse(kDescribeInstances);
  EXPECT_FALSE(parseInstance(doc->document_element(), "i-missing", "us-east-1"));
  auto other = parseInstance(doc->document_element(), "i-other", "us-east-1");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->owner, "111111111111");
  EXPECT_TRUE(other->interfaces.empty());
}

TEST(Ec2Arn, PartitionFollowsTheRegion) {
  EXPECT_EQ(ec2Arn("us-east-1", "1", "instance", "i-1"), "arn:aws:ec2:us-east-1:1:instance/i-1");
  EXPECT_EQ(ec2Arn("cn-north-1", "1", "instance", "i-1"),
            "arn:aws-cn:ec2:cn-north-1:1:instance/i-1");
  EXPECT_EQ(ec2Arn("us-gov-west-1", "1", "network-interface", "eni-1"),
            "arn:aws-us-gov:ec2:us-gov-west-1:1:network-interface/eni-1");
}

TEST(Ec2Rules, RevokeParametersNameEachRuleExactly) {
  auto doc = parse(R"(<ipPermissionsEgress>
    <item><ipProtocol>-1</ipProtocol><groups/>
      <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>
      <ipv6Ranges><item><cidrIpv6>::/0</cidrIpv6></item></ipv6Ranges><prefixListIds/></item>
    <item><ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort>
      <groups><item><userId>222222222222</userId><groupId>sg-peer</groupId></item>
              <item><groupId>sg-local</groupId></item></groups>
      <ipRanges/><prefixListIds><item><prefixListId>pl-1</prefixListId></item></prefixListIds>
    </item>
  </ipPermissionsEgress>)");
  pugi::xml_node rules = doc->document_element();
  EXPECT_EQ(ruleCount(rules), 2u);
  QueryParams want{
      {"IpPermissions.1.IpProtocol", "-1"},
      {"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"},
      {"IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "::/0"},
      {"IpPermissions.2.IpProtocol", "tcp"},
      {"IpPermissions.2.FromPort", "443"},
      {"IpPermissions.2.ToPort", "443"},
      {"IpPermissions.2.PrefixListIds.1.PrefixListId", "pl-1"},
      {"IpPermissions.2.Groups.1.GroupId", "sg-peer"},
      {"IpPermissions.2.Groups.1.UserId", "222222222222"},
      {"IpPermissions.2.Groups.2.GroupId", "sg-local"},
  };
  EXPECT_EQ(ipPermissionsParams(rules), want);
  auto none = parse("<ipPermissions/>");
  EXPECT_TRUE(ipPermissionsParams(none->document_element()).empty());
  EXPECT_EQ(ruleCount(none->document_element()), 0u);
}

TEST(Ec2Params, TagsAndFilters) {
  QueryParams tags{{"TagSpecification.1.ResourceType", "snapshot"},
                   {"TagSpecification.1.Tag.1.Key", "firebreak:step"},
                   {"TagSpecification.1.Tag.1.Value", "run:main:snap"}};
  EXPECT_EQ(tagSpecification("snapshot",
                             {{"firebreak:step", "run:main:snap"}, {"firebreak:incident", ""}}),
            tags);
  QueryParams filters{{"Filter.1.Name", "vpc-id"}, {"Filter.1.Value.1", "vpc-1"},
                      {"Filter.2.Name", "group-name"}, {"Filter.2.Value.1", "iso"}};
  EXPECT_EQ(filterParams({{"vpc-id", "vpc-1"}, {"group-name", "iso"}}), filters);
}

TEST(Ec2Groups, ComparedAsSetsAndNamed) {
  EXPECT_TRUE(sameGroups({"sg-a", "sg-b"}, {"sg-b", "sg-a"}));
  EXPECT_FALSE(sameGroups({"sg-a"}, {"sg-a", "sg-b"}));
  EXPECT_EQ(groupsText({"sg-a", "sg-b"}), "sg-a, sg-b");
  EXPECT_EQ(groupsText({}), "none");
  EXPECT_TRUE(validGroupName("firebreak-isolation"));
  EXPECT_FALSE(validGroupName(""));
  EXPECT_FALSE(validGroupName("sg-isolation"));
  EXPECT_FALSE(validGroupName(std::string(256, 'a')));
}

TEST(S3PublicAccess, ParsedFlagByFlagAndWrittenBack) {
  auto doc = parse(R"(<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>
    <BlockPublicPolicy>true</BlockPublicPolicy></PublicAccessBlockConfiguration>)");
  Json config = parsePublicAccessBlock(doc->document_element());
  // RestrictPublicBuckets left out: false, as S3 treats it.
  EXPECT_EQ(config, (Json{{"BlockPublicAcls", true},
                          {"IgnorePublicAcls", false},
                          {"BlockPublicPolicy", true},
                          {"RestrictPublicBuckets", false}}));
  EXPECT_EQ(publicAccessBlockText(config),
            "BlockPublicAcls=true, IgnorePublicAcls=false, BlockPublicPolicy=true, "
            "RestrictPublicBuckets=false");
  EXPECT_EQ(publicAccessBlockText(Json()), "none");
  const std::string xml = publicAccessBlockXml(config);
  EXPECT_EQ(xml,
            "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>"
            "<BlockPublicPolicy>true</BlockPublicPolicy>"
            "<RestrictPublicBuckets>false</RestrictPublicBuckets>"
            "</PublicAccessBlockConfiguration>");
  // What is written reads back the same.
  auto again = parse(xml.c_str());
  EXPECT_EQ(parsePublicAccessBlock(again->document_element()), config);
}

TEST(S3Bucket, NameFromAnArn) {
  EXPECT_EQ(bucketNameOf("logs"), "logs");
  EXPECT_EQ(bucketNameOf("arn:aws:s3:::logs"), "logs");
  EXPECT_EQ(bucketNameOf("arn:aws-cn:s3:::logs/some/key"), "logs");
}

}  // namespace
}  // namespace firebreak::actions::aws
