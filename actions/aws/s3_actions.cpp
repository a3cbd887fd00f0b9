// aws.s3.block_public_access and its undo, aws.s3.restore_public_access: a bucket's public
// access block set to all four flags, with the configuration before recorded exactly (each
// flag, or none at all) so that the undo puts back that, or deletes the block.
#include "actions/aws/context.h"
#include "actions/aws/ec2_s3.h"

namespace firebreak::actions::aws {

// ---- pure pieces (ec2_s3.h) ----

core::Json parsePublicAccessBlock(pugi::xml_node configuration) {
  core::Json out = core::Json::object();
  for (const char* flag : kPublicAccessFlags)
    out[flag] = std::string_view(configuration.child_value(flag)) == "true";
  return out;
}

std::string publicAccessBlockXml(const core::Json& config) {
  std::string xml = "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const char* flag : kPublicAccessFlags) {
    bool on = config.is_object() && config.value(flag, false);
    xml += std::string("<") + flag + ">" + (on ? "true" : "false") + "</" + flag + ">";
  }
  return xml + "</PublicAccessBlockConfiguration>";
}

std::string publicAccessBlockText(const core::Json& config) {
  if (!config.is_object()) return "none";
  std::string out;
  for (const char* flag : kPublicAccessFlags)
    out += (out.empty() ? "" : ", ") + std::string(flag) + "=" +
           (config.value(flag, false) ? "true" : "false");
  return out;
}

std::string bucketNameOf(std::string_view bucket) {
  // arn:<partition>:s3:::<name>[/<key>]
  if (bucket.rfind("arn:", 0) != 0) return std::string(bucket);
  auto colons = bucket.find(":::");
  if (colons == std::string_view::npos) return std::string(bucket);
  std::string_view rest = bucket.substr(colons + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kBlock = "aws.s3.block_public_access";
constexpr const char* kRestore = "aws.s3.restore_public_access";
constexpr const char* kJournal = "s3-public-access";
constexpr const char* kBucketArn = "arn:aws:s3:::{bucket}";

struct BucketState {
  std::string name;
  std::string arn;
  Json config;  // {flag: bool} for the four flags, or null: no public access block
};

RestRequest publicAccessRequest(const std::string& bucket, const char* operation,
                                const char* method) {
  RestRequest r;
  r.service = "s3";
  r.operation = operation;
  r.method = method;
  r.bucket = bucket;
  r.query = {{"publicAccessBlock", ""}};
  return r;
}

AwsResult<BucketState> readBucket(Client& client, const std::string& bucket,
                                  const CallOptions& options) {
  BucketState state;
  state.name = bucketNameOf(bucket);
  state.arn = "arn:" + partitionOf(client.config().region) + ":s3:::" + state.name;
  auto got = client.restXml(publicAccessRequest(state.name, "GetPublicAccessBlock", "GET"),
                            options);
  if (!got) {
    // The bucket has none: a state of its own, that the undo puts back by deleting.
    if (got.error().code == "NoSuchPublicAccessBlockConfiguration") return state;
    return awsFail(std::move(got.error()));
  }
  state.config = parsePublicAccessBlock(got->root());
  return state;
}

// Puts `config` (the four flags), or deletes the block (null). PutPublicAccessBlock
// requires a Content-MD5 of its body.
AwsStatus applyBlock(Client& client, const std::string& bucket, const Json& config,
                     const CallOptions& options) {
  RestRequest r = config.is_object()
                      ? publicAccessRequest(bucket, "PutPublicAccessBlock", "PUT")
                      : publicAccessRequest(bucket, "DeletePublicAccessBlock", "DELETE");
  if (config.is_object()) {
    r.body = publicAccessBlockXml(config);
    r.content_md5 = true;
  }
  auto answer = client.restXml(r, options);
  if (!answer) return awsFail(std::move(answer.error()));
  return {};
}

Json allBlocked() {
  Json out = Json::object();
  for (const char* flag : kPublicAccessFlags) out[flag] = true;
  return out;
}

class BlockPublicAccessAction final : public BlockingAction {
 public:
  explicit BlockPublicAccessAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kBlock;
    spec_.summary =
        "Turn on all four flags of an S3 bucket's public access block, recording the "
        "configuration before (none included)";
    spec_.params = {
        {"bucket", ParamType::kString, true, nullptr, "bucket name or ARN", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.undo = kRestore;
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {{"s3:GetBucketPublicAccessBlock", kBucketArn},
                         {"s3:PutBucketPublicAccessBlock", kBucketArn}};
    spec_.outputs = {"bucket", "bucket_arn", "previous", "public_access_block"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    const std::string bucket = paramString(request.params, "bucket");
    if (bucket.empty())
      return ActionResult::permanent(describe(request, kBlock, "'bucket' is required"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kBlock, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kBlock, "bucket", bucket,
                             [&] { return readBucket(**client, bucket, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const BucketState& state = std::get<BucketState>(live);
    // The name too: a pattern may name the bucket bare, and the ARN check sees the ARN only.
    if (auto pattern = ctx_->protectedBy({state.name}))
      return protectedFailure(request, kBlock, state.arn, *pattern);
    const Json wanted = allBlocked();
    Json output{{"bucket", state.name}, {"bucket_arn", state.arn}, {"previous", state.config},
                {"public_access_block", wanted}};
    if (plan) {
      output["plan"] = state.config == wanted
                           ? "bucket " + state.name +
                                 " already blocks all public access: nothing would change"
                           : "would set the public access block of bucket " + state.name +
                                 " from " + publicAccessBlockText(state.config) +
                                 " to all four flags true";
      ActionResult r = ActionResult::success(output, describe(request, kBlock, "planned"));
      r.resources = 1;
      return r;
    }
    // A re-execution (same key) keeps the configuration the first one found, not its own.
    if (auto before = ctx_->recalled(kJournal, request.idempotency_key))
      output["previous"] = before->value("previous", Json());
    else if (!ctx_->remember(kJournal, request.idempotency_key, output))
      return ActionResult::retryable(describe(
          request, kBlock, "cannot record the configuration before the change in the data dir"));
    if (state.config != wanted) {
      if (auto s = applyBlock(**client, state.name, wanted, options); !s)
        return failed(request, kBlock, s.error(),
                      "putting the public access block of bucket " + state.name, output);
    }
    return ActionResult::success(
        output, describe(request, kBlock,
                         "bucket " + state.arn + " blocks all public access (was " +
                             publicAccessBlockText(output["previous"]) + ")"));
  }

};

class RestorePublicAccessAction final : public BlockingAction {
 public:
  explicit RestorePublicAccessAction(std::shared_ptr<Context> ctx)
      : BlockingAction(std::move(ctx)) {
    spec_.name = kRestore;
    spec_.summary =
        "Undo of aws.s3.block_public_access: put back the recorded public access block, or "
        "delete it when there was none";
    spec_.params = {
        {"bucket", ParamType::kString, false, nullptr,
         "bucket name or ARN; default: the one the undone step changed", {}, true},
    };
    spec_.idempotent = true;
    spec_.destructive = true;
    spec_.phase = core::Phase::kRecover;
    // DeletePublicAccessBlock is authorized by s3:PutBucketPublicAccessBlock.
    spec_.permissions = {{"s3:GetBucketPublicAccessBlock", kBucketArn},
                         {"s3:PutBucketPublicAccessBlock", kBucketArn}};
    spec_.outputs = {"bucket", "bucket_arn", "restored", "replaced"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    auto recorded = ctx_->undoneState(request, "previous");
    if (!recorded || !((*recorded)["previous"].is_null() || (*recorded)["previous"].is_object()))
      return ActionResult::permanent(describe(
          request, kRestore,
          "no recorded public access block to restore: it undoes a step of " +
              std::string(kBlock)));
    std::string bucket = paramString(request.params, "bucket");
    if (bucket.empty()) bucket = recorded->value("bucket", "");
    if (bucket.empty())
      return ActionResult::permanent(describe(request, kRestore, "no bucket to restore"));
    // Exactly the four flags recorded (anything else in the record is not S3's).
    Json previous;
    if ((*recorded)["previous"].is_object()) {
      previous = Json::object();
      for (const char* flag : kPublicAccessFlags)
        previous[flag] = (*recorded)["previous"].value(flag, false);
    }
    auto client = ctx_->client(request);
    if (!client) return failed(request, kRestore, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kRestore, "bucket", bucket,
                             [&] { return readBucket(**client, bucket, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const BucketState& state = std::get<BucketState>(live);
    if (auto pattern = ctx_->protectedBy({state.name}))
      return protectedFailure(request, kRestore, state.arn, *pattern);
    Json output{{"bucket", state.name}, {"bucket_arn", state.arn}, {"restored", previous},
                {"replaced", state.config}};
    const std::string what = previous.is_null()
                                 ? "delete the public access block of bucket " + state.name
                                 : "set the public access block of bucket " + state.name +
                                       " to " + publicAccessBlockText(previous);
    if (plan) {
      output["plan"] = state.config == previous
                           ? "public access block of bucket " + state.name + " is already " +
                                 publicAccessBlockText(previous) + ": nothing would change"
                           : "would " + what;
      return ActionResult::success(output, describe(request, kRestore, "planned"));
    }
    if (state.config != previous) {
      if (auto s = applyBlock(**client, state.name, previous, options); !s)
        return failed(request, kRestore, s.error(),
                      "restoring the public access block of bucket " + state.name, output);
    }
    return ActionResult::success(
        output, describe(request, kRestore,
                         state.config == previous
                             ? "public access block of bucket " + state.name +
                                   " already as recorded"
                             : "did " + what));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeBlockPublicAccessAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<BlockPublicAccessAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeRestorePublicAccessAction(
    std::shared_ptr<Context> ctx) {
  return std::make_unique<RestorePublicAccessAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
