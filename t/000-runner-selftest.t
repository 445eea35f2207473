# Self-test of the Test::Nginx runner: plain nginx directives only, so it
# passes under the real Test::Nginx::Socket and under t/compat/lib alike.

use strict;
use warnings;

use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * 51;

run_tests();

__DATA__

=== TEST 1: plain return, status and body
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- error_code: 200
--- response_body
hello



=== TEST 2: response headers, present and absent
--- config
    location = /h {
        add_header X-Foo bar;
        return 200 "ok";
    }
--- request
GET /h
--- response_headers
X-Foo: bar
!X-Bar
Content-Length: 2
--- response_body chomp
ok



=== TEST 3: more_headers, Host and Connection, comment before the request line
--- config
    location = /echo {
        return 200 "foo=$http_x_foo, host=$host, conn=$http_connection";
    }
--- request
    # a comment
    GET /echo
--- more_headers
X-Foo: blah
--- response_body: foo=blah, host=localhost, conn=close



=== TEST 4: request body is trimmed and gets a Content-Length
--- config
    location = /body {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo_body;
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $http_content_length;
    }
    location = /echo_body {
        return 200 "[$http_x_body] $http_x_len\n";
    }
--- request
POST /body
  hello world  
--- response_body
[hello world] 11



=== TEST 5: request eval, HTTP/1.0, response_body eval
--- config
    location = /v {
        return 200 "$server_protocol $arg_port";
    }
--- request eval
"GET /v?port=$ENV{TEST_NGINX_SERVER_PORT} HTTP/1.0"
--- response_body eval
"HTTP/1.0 $ENV{TEST_NGINX_SERVER_PORT}"



=== TEST 6: error_log and no_error_log with plain strings
--- config
--- request
GET /nope.txt
--- error_code: 404
--- error_log
open() "
No such file or directory
--- no_error_log
[alert]
[crit]



=== TEST 7: eval'd regexes: error_log, response_body_like, headers_like
--- config
--- request
GET /nope.txt
--- error_code_like: ^40\d$
--- response_headers_like
Content-Type: text/html
Server: nginx.*
--- response_body_like eval
qr{<title>404 Not Found</title>}
--- error_log eval
[qr/open\(\) ".*?nope\.txt" failed/, "client: 127.0.0.1"]



=== TEST 8: user_files under html_dir()
--- config
--- user_files
>>> sub/foo.txt
hello file
--- request
GET /sub/foo.txt
--- response_body
hello file
--- response_headers_like
Content-Type: text/plain
Last-Modified: .+ GMT



=== TEST 9: pipelined requests on one connection
--- config
    location /p {
        return 200 "$uri $http_connection\n";
    }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- error_code eval
[200, 200]
--- response_body eval
["/p1 keep-alive\n", "/p2 close\n"]
--- no_error_log
[error]



=== TEST 10: several requests, one connection each
--- config
    location /p {
        return 200 "$uri\n";
    }
--- request eval
["GET /p1", "GET /p2"]
--- response_body eval
["/p1\n", "/p2\n"]



=== TEST 11: chunked response
--- config
    location = /chunked {
        sub_filter_types text/plain;
        sub_filter 'world' 'there';
        return 200 "hello world\n";
    }
--- request
GET /chunked
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
hello there



=== TEST 12: main_config, http_config and init
--- main_config
env SELFTEST_ENV;
--- http_config
    map $uri $mapped {
        default "from-map";
    }
--- config
    location = /m {
        return 200 "$mapped\n";
    }
--- init
open my $out, '>', html_dir() . "/init.txt" or die $!;
print $out "from init\n";
close $out;
--- request eval
["GET /m", "GET /init.txt"]
--- response_body eval
["from-map\n", "from init\n"]



=== TEST 13: $TEST_NGINX_* in config and in the expected body
--- config
    location = /root {
        return 200 "$TEST_NGINX_SERVER_ROOT\n";
    }
--- request
GET /root
--- response_body
$TEST_NGINX_SERVER_ROOT



=== TEST 14: HEAD has no body
--- config
    location = /t {
        return 200 "hello";
    }
--- request
HEAD /t
--- response_headers
Content-Length: 5
--- response_body:
