"""Amazon S3's API over the object store: the same accounts (projects),
containers (buckets) and objects the Swift API serves, reached at `/object/s3`.

  auth.py     who is asking: AWS Signature V4 (header and presigned query) and V2
              checked against Keystone's EC2 credentials, giving a RequestContext
  sigv4.py    SigV4's canonical request for S3;  sigv2.py: S3's V2 string to sign
  chunked.py  `aws-chunked` request bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD and
              the unsigned-trailer form), decoded and checked chunk by chunk
  body.py     a request body as its signature vouches for it, streamed to the store
  params.py   what a request may carry (bucket names, keys, listing and multipart
              parameters, ACLs, metadata, copy source), parsed or refused
  errors.py   S3's error codes, as exceptions carrying code, status and message
  xml.py      S3's XML: the error body and the result documents, pure functions

The routes (path style, `/object/s3/<bucket>/<key>`):

  api.py            the ServiceSpec (catalog type `s3`, error style "s3"), the
                    service and bucket operations, and the dispatch of object
                    requests by method and sub-resource
  object_routes.py  Put/Get/Head/Copy/DeleteObject
  multipart.py      the multipart upload operations; parts.py where uploads live
                    (`<bucket>+segments`, completed uploads are Swift SLOs)
  common.py         the caller, the bucket it names, Swift's roles and ACLs as
                    S3's AccessDenied, domain refusals in S3's codes

A bucket is a Swift container of the account `AUTH_<project>` of the EC2
credential's project, an object a Swift object: one store, two APIs. Bucket
names are global as in S3: a bucket outside the caller's account is found by
name and judged by its Swift ACLs (`public-read` is `.r:*,.rlistings`).

No tables here: credentials are identity's (through its public functions), objects
the object store's (its domain modules). Every refusal, S3Error or not, reaches
the client as S3's `<Error>` document through the app's one error handler.
"""
