# What nginx itself refuses (a body over the limit, a request line or a
# header too long, a malformed header, an HTTP version it does not speak,
# TRACE and CONNECT) is answered with the module's JSON error envelope and
# X-Request-Id under the API, and with nginx's own page elsewhere.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a declared length over nginx's limit is a JSON 413
--- config
    location /api/v1/ {
        crm_api;
        crm_max_body_size 1k;
        client_max_body_size 1k;
    }
--- request eval
"POST /api/v1/contacts\n" . '{"email":"big@example.com","zzz":"' . ("x" x 2000) . '"}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 413
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"PAYLOAD_TOO_LARGE","status":413,"message":"the request body is too large","details":\{\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}\}$
--- error_log
client intended to send too large body: 2036 bytes

=== TEST 2: crm_max_body_size is nginx's limit in the location
--- config
    location /api/v1/ {
        crm_api;
        crm_max_body_size 1k;
    }
--- request eval
"POST /api/v1/contacts\n" . '{"email":"big@example.com","zzz":"' . ("x" x 2000) . '"}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 413
--- response_body_like: "code":"PAYLOAD_TOO_LARGE"
--- error_log
client intended to send too large body: 2036 bytes

=== TEST 3: crm_max_body_size over client_max_body_size lets the body in
--- config
    location /api/v1/ {
        crm_api;
        client_max_body_size 1k;
        crm_max_body_size 8k;
    }
--- request eval
"POST /api/v1/contacts\n" . '{"email":"big@example.com","zzz":"' . ("x" x 2000) . '"}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"VALIDATION_FAILED".*"field":"zzz","code":"unknown_field"
--- no_error_log
too large body

=== TEST 4: a chunk over the limit is a JSON 413 with the module's request id
--- raw_request eval
"POST /api/v1/contacts HTTP/1.1\r
Host: localhost\r
X-API-Key: test-key-a-0123456789abcdef\r
X-Request-Id: chunked-413\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
200000\r
{\"email\":\"big\@example.com\",\"zzz\":\""
--- error_code: 413
--- response_headers
Content-Type: application/json
X-Request-Id: chunked-413
--- response_body_like: ^\{"error":\{"code":"PAYLOAD_TOO_LARGE","status":413,"message":"the request body is too large","details":\{\}\},"meta":\{"requestId":"chunked-413","timestamp":"[^"]+"\}\}$
--- error_log
client intended to send too large chunked body

=== TEST 5: a request line too long is a JSON 414
--- raw_request eval
"GET /api/v1/contacts?q=" . ("a" x 9000) . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 414
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"URI_TOO_LONG","status":414,"message":"the request line is too long","details":\{\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$
--- error_log
client sent too long URI

=== TEST 6: a header too large is a JSON 400
--- raw_request eval
"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ("a" x 9000) . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"REQUEST_HEADER_TOO_LARGE","status":400,"message":"the request's headers are too large","details":\{\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$
--- error_log
client sent too long header line

=== TEST 7: a NUL in a header is a JSON 400 that keeps the request id sent
--- raw_request eval
"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: nul-400\r\nX-Bad: a\0b\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers
Content-Type: application/json
X-Request-Id: nul-400
--- response_body_like: ^\{"error":\{"code":"BAD_REQUEST","status":400,"message":"the request is malformed","details":\{\}\},"meta":\{"requestId":"nul-400","timestamp":"[^"]+"\}\}$
--- error_log
client sent invalid header line

=== TEST 8: an HTTP version nginx does not speak is a JSON 505
--- raw_request eval
"GET /api/v1/health HTTP/3.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 505
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"HTTP_VERSION_NOT_SUPPORTED","status":505,"message":"the HTTP version is not supported","details":\{\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$

=== TEST 9: TRACE is a JSON 405
--- request
TRACE /api/v1/health
--- error_code: 405
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"METHOD_NOT_ALLOWED","status":405,"message":"the method is not allowed","details":\{\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$
--- error_log
client sent TRACE method

=== TEST 10: CONNECT is a JSON 405
--- raw_request eval
"CONNECT /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 405
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":\{"code":"METHOD_NOT_ALLOWED","status":405,
--- error_log
client sent CONNECT method

=== TEST 11: an unknown Transfer-Encoding is a JSON 501
--- raw_request eval
"POST /api/v1/contacts HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"
--- error_code: 501
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"NOT_IMPLEMENTED","status":501,
--- error_log
client sent unknown "Transfer-Encoding"

=== TEST 12: an HTTP/1.1 request without Host is a JSON 400
--- raw_request eval
"GET /api/v1/health HTTP/1.1\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"BAD_REQUEST","status":400,

=== TEST 13: a location without crm_api keeps nginx's page
--- config
    location /api/v1/ {
        crm_api;
    }

    location /static/ {
        return 404;
    }
--- request
GET /static/nothing
--- error_code: 404
--- response_headers
Content-Type: text/html
!X-Request-Id
--- response_body_like: ^<html>\r\n<head><title>404 Not Found</title>

=== TEST 14: crm_json_errors answers nginx's 404 outside the API in the module's shape
--- config
    location /api/v1/ {
        crm_api;
    }

    location / {
        crm_json_errors on;
        return 404;
    }
--- request
GET /index.html
--- error_code: 404
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"error":\{"code":"RESOURCE_NOT_FOUND","status":404,"message":"no such route","details":\{\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$

=== TEST 15: the connection is kept after a JSON error nginx made
--- config
    location /api/v1/ {
        crm_api;
    }

    location / {
        crm_json_errors on;
        return 404;
    }
--- pipelined_requests eval
["GET /index.html", "GET /api/v1/health"]
--- error_code eval
[404, 200]
--- response_body_like eval
['^\{"error":\{"code":"RESOURCE_NOT_FOUND".*\}\}$', '^\{"data":\{"status":']

=== TEST 16: crm_json_errors off gives nginx's pages back in an API location
--- config
    location /api/v1/ {
        crm_api;
        crm_max_body_size 1k;
        crm_json_errors off;
    }
--- request eval
"POST /api/v1/contacts\n" . '{"email":"big@example.com","zzz":"' . ("x" x 2000) . '"}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 413
--- response_headers
Content-Type: text/html
--- response_body_like: <title>413 Request Entity Too Large</title>

=== TEST 17: a server without a crm_api location keeps nginx's pages
--- config
    location / {
        return 200 "ok\n";
    }
--- request
TRACE /
--- error_code: 405
--- response_headers
Content-Type: text/html
!X-Request-Id
--- response_body_like: <title>405 Not Allowed</title>
