package dev.jdiffuse.server.web;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A servlet filter in front of Javalin: refuses a request path with a malformed %-escape ({@link StrictInput#path})
 * before any router decodes it, with the API's JSON 400. It runs ahead of WebSocket upgrades too, where Javalin's
 * own decoder would otherwise fail with a 500.
 */
public final class StrictPathFilter implements Filter {

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        HttpServletRequest req = (HttpServletRequest) request;
        try {
            StrictInput.path(req.getRequestURI());
        } catch (ApiException e) {
            HttpServletResponse res = (HttpServletResponse) response;
            byte[] body = ("{\"error\":{\"code\":\"bad_request\",\"message\":\"" + e.getMessage()
                    + "\",\"field\":null}}").getBytes(StandardCharsets.UTF_8);
            res.setStatus(e.status());
            res.setContentType("application/json");
            SecurityHeaders.apply(res::setHeader);
            res.setContentLength(body.length);
            res.getOutputStream().write(body);
            return;
        }
        chain.doFilter(request, response);
    }
}
