/**
 * Textual-inversion embeddings ("embeddings", "negative embeddings"): their {@code .safetensors} layouts
 * ({@link dev.jdiffuse.models.textinv.TextualInversionFile}) and the set a prompt may use
 * ({@link dev.jdiffuse.models.textinv.EmbeddingSet}); the prompt chunker puts their vectors in place of token
 * embeddings.
 */
package dev.jdiffuse.models.textinv;
