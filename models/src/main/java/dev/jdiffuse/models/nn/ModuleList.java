package dev.jdiffuse.models.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/** An indexed list of sub-modules, named {@code 0, 1, ...} as PyTorch's {@code nn.ModuleList}. */
public final class ModuleList<M extends Module> extends Module implements Iterable<M> {

    private final List<M> items = new ArrayList<>();

    public M add(M module) {
        items.add(child(Integer.toString(items.size()), module));
        return module;
    }

    /** Adds an empty slot (a parameter-free placeholder) so later indices keep PyTorch's numbering. */
    public void skip() {
        items.add(null);
        child(Integer.toString(items.size() - 1), new Module() { });
    }

    public M get(int i) {
        return items.get(i);
    }

    public int size() {
        return items.size();
    }

    public List<M> asList() {
        return Collections.unmodifiableList(items);
    }

    @Override
    public Iterator<M> iterator() {
        return asList().iterator();
    }
}
