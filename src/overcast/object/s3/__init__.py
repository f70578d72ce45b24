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

No tables here: credentials are identity's (through its public functions), objects
the object store's.
"""
