// Submits the LTI message form as soon as the page has loaded (the button is the fallback).
document.getElementById("autopost").submit();
