/* Before the page draws: 长辈模式 (large text) if the visitor chose it last time. */
try {
  if (localStorage.getItem("careMap.elder") === "1") document.documentElement.classList.add("elder");
} catch (e) {
  /* storage blocked (private mode): the page starts in the normal size */
}
