package dev.jdiffuse.server.models;

/** Where one models-folder entry stands: not in memory, being loaded, in memory, or refused by its loader. */
public enum ModelState { UNLOADED, LOADING, LOADED, FAILED }
