package dev.jdiffuse.server.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.sdapi.SdApiModels;
import dev.jdiffuse.server.web.ApiException;
import io.javalin.http.Context;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@code POST /v1/images/edits}: OpenAI's image edit as native image-to-image (no mask) or inpainting (a mask), one
 * job per image as {@link OpenAiGenerate} queues them. The multipart fields are read into the JSON body the
 * generation route parses ({@link OpenAiImageRequest}), numbers and booleans typed; the image and mask are checked
 * and kept as uploads (the native upload route's size, pixel and decoding limits) for as long as the request runs.
 * OpenAI's mask marks where to edit by its fully transparent pixels (alpha 0); the native mask is white where the
 * model repaints, so alpha 0 becomes white and every other pixel black.
 */
final class OpenAiEdits {

    /** The file fields: the image (newer SDKs send {@code image[]}) and the mask. */
    static final Set<String> FILES = Set.of("image", "image[]", "mask");
    /** Text fields that carry a JSON number in a JSON body. */
    private static final Set<String> NUMBERS = Set.of("n", "seed", "steps", "guidance_scale", "cfg_scale", "strength",
            "mask_blur", "output_compression", "partial_images");
    private static final Pattern NUMBER = Pattern.compile("-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?");

    private final HttpApi api;
    private final OpenAiGenerate generate;
    private final ObjectMapper mapper;
    private final SdApiModels models;
    private final long maxBody;
    private final SecureRandom random = new SecureRandom();

    OpenAiEdits(HttpApi api, OpenAiGenerate generate, ObjectMapper mapper) {
        this.api = api;
        this.generate = generate;
        this.mapper = mapper;
        this.models = new SdApiModels(api.models());
        // the text fields within the JSON body's limit, and two images (image and mask) of at most an upload each
        this.maxBody = api.limits().maxBodyBytes() + 2 * api.limits().maxUploadBytes();
    }

    ObjectNode run(Context ctx) {
        MultipartForm form = MultipartForm.read(ctx, api, maxBody, FILES);
        byte[] image = image(form);
        byte[] maskBytes = single(form, "mask");
        JsonNode body = body(form.fields());
        String init = null;
        String mask = null;
        try {
            UploadStore.Upload upload = store(image, "image");
            init = upload.id();
            if (maskBytes != null) {
                mask = storeMask(maskBytes, upload.width(), upload.height());
            } else if (readsTransparencyAsMask(body) && upload.format().equals("png")
                    && api.decoding(() -> transparent(image))) {
                // OpenAI (dall-e-2): "If mask is not provided, image must have transparency, which will be used as
                // the mask": its fully transparent pixels are repainted
                byte[] own = api.decoding(() -> nativeMask(image, upload.width(), upload.height(), "image"));
                mask = store(own, "image").id();
            }
            OpenAiImageRequest r = OpenAiImageRequest.parse(body, api.models()::contains, random,
                    new OpenAiImageRequest.Edit(init, upload.width(), upload.height(), mask, this::sizeMultiple));
            return generate.run(ctx, r);
        } finally {
            // the images live as long as the request: every job that reads them has ended (or been cancelled)
            if (init != null) {
                api.discardImage(init);
            }
            if (mask != null) {
                api.discardImage(mask);
            }
        }
    }

    /** The one image, as {@code image} or {@code image[]}; several: 400 (one edit takes one image). */
    private static byte[] image(MultipartForm form) {
        List<byte[]> images = new ArrayList<>(form.files().getOrDefault("image", List.of()));
        images.addAll(form.files().getOrDefault("image[]", List.of()));
        if (images.isEmpty()) {
            throw OpenAiError.missing("image");
        }
        if (images.size() > 1) {
            throw OpenAiError.invalid("image", "jdiffuse edits one image per request; got " + images.size()
                    + " (send one 'image' file)");
        }
        if (images.get(0).length == 0) {
            throw OpenAiError.invalid("image", "'image' is an empty file");
        }
        return images.get(0);
    }

    /** The file field {@code name} if given (once), else null. */
    private static byte[] single(MultipartForm form, String name) {
        List<byte[]> files = form.files().getOrDefault(name, List.of());
        if (files.size() > 1) {
            throw OpenAiError.invalid(name, "'" + name + "' is given more than once");
        }
        if (files.isEmpty()) {
            return null;
        }
        if (files.get(0).length == 0) {
            throw OpenAiError.invalid(name, "'" + name + "' is an empty file");
        }
        return files.get(0);
    }

    /** The text fields as the JSON body the generation route reads: numbers and booleans typed. */
    private JsonNode body(Map<String, String> fields) {
        ObjectNode body = mapper.createObjectNode();
        fields.forEach((name, value) -> {
            String v = value.trim();
            if (NUMBERS.contains(name) && NUMBER.matcher(v).matches()) {
                try {
                    body.set(name, mapper.readTree(v));
                } catch (IOException e) {
                    body.put(name, value); // not a number after all: the parser names it
                }
            } else if (name.equals("stream") && (v.equalsIgnoreCase("true") || v.equalsIgnoreCase("false"))) {
                body.put(name, Boolean.parseBoolean(v.toLowerCase(Locale.ROOT)));
            } else {
                body.put(name, value);
            }
        });
        return body;
    }

    /** The model's size multiple ({@code null}: the default model's). */
    private int sizeMultiple(String model) {
        String name = model != null ? model : api.models().defaultName().orElse(null);
        return name == null ? 8 : models.sizeMultiple(name);
    }

    /** {@code bytes} checked and kept as an upload; a refusal names {@code param}. */
    private UploadStore.Upload store(byte[] bytes, String param) {
        try {
            return api.storeImage(bytes);
        } catch (ApiException e) {
            throw new OpenAiError(e.status(), e.body().error().code(), "'" + param + "': " + e.getMessage(), param,
                    e.retryAfterSeconds());
        }
    }

    /**
     * OpenAI's mask (a PNG of the image's size whose alpha-0 pixels mark where to edit) as the native mask (white =
     * repaint, black = keep), kept as an upload; its id.
     */
    private String storeMask(byte[] bytes, int width, int height) {
        UploadStore.Upload checked = store(bytes, "mask");
        api.discardImage(checked.id());
        if (!checked.format().equals("png")) {
            throw OpenAiError.invalid("mask", "the mask must be a PNG whose transparent pixels mark where to edit; "
                    + "got " + checked.format());
        }
        if (checked.width() != width || checked.height() != height) {
            throw OpenAiError.invalid("mask", "the mask is " + checked.width() + "x" + checked.height()
                    + " but the image is " + width + "x" + height + ": they must have the same size");
        }
        // the check above bounded the pixels the header declares; this decode keeps the alpha channel
        byte[] png = api.decoding(() -> nativeMask(bytes, width, height, "mask"));
        return store(png, "mask").id();
    }

    /**
     * Whether the request's model reads an edited image's transparency as its mask: dall-e-2, which is also OpenAI's
     * default for edits; the GPT image models edit the whole image.
     */
    private static boolean readsTransparencyAsMask(JsonNode body) {
        JsonNode model = body.get("model");
        return model == null || model.isNull() || model.asText().trim().toLowerCase(java.util.Locale.ROOT)
                .startsWith("dall-e-2");
    }

    /** Whether the image {@code bytes} has an alpha channel and a pixel of alpha 0 (false when it cannot be read). */
    private static boolean transparent(byte[] bytes) {
        BufferedImage m;
        try {
            m = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException e) {
            return false;
        } catch (OutOfMemoryError e) {
            throw new OpenAiError(507, "insufficient_memory", "the server has no memory left to decode the image "
                    + "now; retry later", "image", 5L);
        }
        if (m == null || !m.getColorModel().hasAlpha()) {
            return false;
        }
        int[] row = new int[m.getWidth()];
        for (int y = 0; y < m.getHeight(); y++) {
            m.getRGB(0, y, row.length, 1, row, 0, row.length);
            for (int argb : row) {
                if ((argb >>> 24) == 0) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The native mask as a PNG: white where OpenAI's mask {@code bytes} has alpha 0, black elsewhere. */
    private static byte[] nativeMask(byte[] bytes, int width, int height, String field) {
        BufferedImage m;
        try {
            m = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException e) {
            m = null;
        } catch (OutOfMemoryError e) {
            throw new OpenAiError(507, "insufficient_memory", "the server has no memory left to decode the " + field
                    + " now; retry later", field, 5L);
        }
        if (m == null) {
            throw OpenAiError.invalid(field, "the " + field + " could not be decoded");
        }
        if (!m.getColorModel().hasAlpha()) {
            throw OpenAiError.invalid(field, "the " + field + " has no alpha channel: its fully transparent pixels "
                    + "(alpha 0) mark where to edit, as OpenAI's masks do");
        }
        BufferedImage white = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        int[] row = new int[width];
        for (int y = 0; y < height; y++) {
            m.getRGB(0, y, width, 1, row, 0, width);
            for (int x = 0; x < width; x++) {
                row[x] = (row[x] >>> 24) == 0 ? 0xFFFFFF : 0;
            }
            white.setRGB(0, y, width, 1, row, 0, width);
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try {
            ImageIO.write(white, "png", png);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return png.toByteArray();
    }
}
