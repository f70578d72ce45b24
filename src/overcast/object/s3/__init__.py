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

How the S3 routes use these (the routes themselves come with the object store):

    auth = S3Authenticator(app.state.identity, mount="/object/s3")     # in setup()
    caller = auth.authenticate(SignedRequest.from_asgi(request.scope), request_id)
    ...                    # None: anonymous (public-read buckets only)
    async for piece in verified_body(request.stream(), caller, lower_case_headers):
        ...                # write to a temporary file; commit only at the end
    return Response(xml.list_objects_v2(...), media_type=xml.CONTENT_TYPE)

The S3 ServiceSpec declares `error_style="s3"` (prefix `/object/s3`, longer than
Swift's `/object`, so it wins): every refusal, S3Error or not, then reaches the
client as S3's `<Error>` document through the app's one error handler.
"""
